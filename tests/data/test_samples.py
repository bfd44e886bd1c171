"""Datasets without ../shared: the reader registry, the UTKFace folder reader, missing labels, the fixed split."""
import numpy as np
import pytest

from facekit.core.errors import DataError
from facekit.core.labels import RACE_LABELS, UTKFACE_RACE_LABELS, AgeBins
from facekit.data.datasets import read_dataset
from facekit.data.samples import MISSING, Samples, describe, split
from facekit.data.utkface import parse_name
from facekit.train.pipeline import labels_for
from tests.logged import logged_messages
from tests.synthetic_faces import utkface_name, write_utkface_folder


def fake_samples(count, seed=0):
    """Samples with UTKFace-like names and random labels; no files behind them (the split needs none)."""
    rng = np.random.default_rng(seed)
    ages, genders, races = rng.integers(1, 100, count), rng.integers(0, 2, count), rng.integers(0, 5, count)
    names = [utkface_name(i, a, g, r) for i, (a, g, r) in enumerate(zip(ages, genders, races))]
    return Samples(np.array(names), ages.astype(np.int32), genders.astype(np.int32), races.astype(np.int32))


def test_split_is_fixed_disjoint_and_independent_of_order_and_limit():
    samples = fake_samples(5000)
    parts = split(samples)
    names = {k: set(v.names) for k, v in parts.items()}
    assert sum(len(v) for v in names.values()) == len(samples)
    assert not (names["train"] & names["val"] or names["train"] & names["test"] or names["val"] & names["test"])
    assert abs(len(names["test"]) / len(samples) - 0.2) < 0.02 and abs(len(names["val"]) / len(samples) - 0.1) < 0.02
    reshuffled = split(samples.subset(np.random.default_rng(1).permutation(len(samples))))
    assert {k: set(v.names) for k, v in reshuffled.items()} == names
    limited = split(samples, limit=500)
    assert sum(len(v) for v in limited.values()) == 500
    for k in names:
        assert set(limited[k].names) <= names[k]


def test_missing_labels_keep_the_split_and_become_zero_targets():
    samples = fake_samples(300)
    partial = Samples(samples.paths, samples.ages.copy(), samples.genders.copy(), samples.races.copy())
    partial.races[::3] = MISSING
    partial.ages[:7] = MISSING
    assert {k: v.names for k, v in split(partial).items()} == {k: v.names for k, v in split(samples).items()}
    text = describe(partial)
    assert "unknown 100" in text.splitlines()[2] and "unknown 7" in text.splitlines()[3]
    assert "unknown" not in text.splitlines()[1]
    # A missing label is a row of zeros (its head adds no loss for the image); the others are whole.
    targets = labels_for(partial, AgeBins(), 2.0)
    assert (targets["race"][::3] == 0).all() and np.allclose(targets["race"][1::3].sum(1), 1)
    assert (targets["age"][:7] == 0).all() and np.allclose(targets["age"][7:].sum(1), 1)
    assert np.allclose(targets["gender"].sum(1), 1)
    assert partial.labelled_heads() == ["age", "gender", "race"]
    nothing = Samples(samples.paths, np.full(300, MISSING), np.full(300, MISSING), np.full(300, MISSING))
    with pytest.raises(DataError,
                       match="training needs labels, but none of the 300 images has an age, a gender or a race"):
        labels_for(nothing, AgeBins(), 2.0)


def test_utkface_folder_reads_labels_from_names_and_skips_what_it_cannot_use(tmp_path):
    labels = write_utkface_folder(tmp_path / "data", count=12)
    (tmp_path / "data" / "39_1_20170116174525125.jpg.chip.jpg").write_bytes(b"")  # a field short, as in UTKFace
    (tmp_path / "data" / "30_0_1_20170101000000000.jpg.chip.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (tmp_path / "data" / "notes.txt").write_text("not an image")
    with logged_messages() as messages:
        samples = read_dataset(tmp_path / "data")
    assert len(samples) == 12
    for name, age, gender, race in zip(samples.names, samples.ages, samples.genders, samples.races):
        assert labels[name] == (age, gender, UTKFACE_RACE_LABELS.index(race))  # the code's race label
    assert messages[0] == "skipped 1 file(s) whose names lack AGE_GENDER_RACE: 39_1_20170116174525125.jpg.chip.jpg"
    assert messages[1] == "skipped 1 unreadable image(s): 30_0_1_20170101000000000.jpg.chip.jpg"
    assert messages[2].startswith("12 images\n  gender: male 6, female 6")
    assert parse_name("25_1_2_20170116174525125.jpg.chip.jpg") == (25, 1, RACE_LABELS.index("Asian"))
    assert parse_name("25_7_2_x.jpg") is None and parse_name("photo.jpg") is None


def test_sources_no_reader_takes_are_refused_in_one_line(tmp_path):
    with pytest.raises(DataError, match="data not found: .*absent"):
        read_dataset(tmp_path / "absent")
    (tmp_path / "labels.json").write_text("{}")
    with pytest.raises(DataError, match="cannot read .*labels.json as a dataset; --data takes FairFace's .*; "
                                           "or a .csv file .*; "
                                           "or a folder of images"):
        read_dataset(tmp_path / "labels.json")
