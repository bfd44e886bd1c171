"""facekit.data.sources: several --data sources, each split by file name on its own, tagged, recorded; labels a
source lacks stay MISSING; per-source options; sampling weights by source and by sex x decade."""
import numpy as np
import pytest

from facekit.core.errors import FaceKitError, InputError
from facekit.data.datasets import read_dataset
from facekit.data.samples import MISSING, describe_weights, resample_index, sampling_weights, split
from facekit.data.sources import Source, check_sources, label_fingerprint, read_splits, sources_of
from tests.data.test_crop_cache import AAF, needs_aaf
from tests.shared_data import UTKFACE, needs_utkface
from tests.synthetic_faces import write_utkface_folder


@pytest.fixture
def two_sources(tmp_path):
    """A UTKFace-named folder and a CSV of other images with age and gender but no race (as AAF's labels.csv)."""
    folder = tmp_path / "UTKFace"
    write_utkface_folder(folder, count=40)
    images = tmp_path / "other"
    labels = write_utkface_folder(images, count=30, seed=5)
    rows = [f"{name},{age},{'female' if gender else 'male'}" for name, (age, gender, _) in labels.items()]
    csv_file = images / "labels.csv"
    csv_file.write_text("file,age,gender\n" + "\n".join(rows) + "\n")
    return folder, csv_file


def test_each_source_keeps_the_split_it_has_alone(two_sources):
    folder, csv_file = two_sources
    splits, records, names = read_splits(sources_of([str(folder), str(csv_file)]))
    alone = [split(read_dataset(str(source))) for source in (folder, csv_file)]
    for part in ("train", "val", "test"):
        joined = splits[part]
        for index, own in enumerate(alone):
            mine = joined.sources == index
            assert sorted(joined.subset(mine).names) == sorted(own[part].names)
        expected = [f"UTKFace/{n}" for n in alone[0][part].names] + [f"other/{n}" for n in alone[1][part].names]
        assert names[part] == expected
    # The CSV gives no race: MISSING for all its images, known for all of the folder's.
    every = [splits[part] for part in splits]
    assert all((s.races[s.sources == 1] == MISSING).all() and (s.races[s.sources == 0] != MISSING).all() for s in every)
    assert [r["files"] for r in records] == [40, 30] and [r["crop"] for r in records] == ["as-is", "as-is"]
    assert records[1]["name"] == "other" and records[1]["label_sha256"] == label_fingerprint(csv_file)


def test_the_label_fingerprint_follows_the_labels(two_sources):
    folder, csv_file = two_sources
    before = label_fingerprint(csv_file), label_fingerprint(folder)
    csv_file.write_text(csv_file.read_text().replace(",male", ",female", 1))
    next(folder.iterdir()).rename(folder / "99_1_4_20170100000000999.jpg.chip.jpg")
    assert label_fingerprint(csv_file) != before[0] and label_fingerprint(folder) != before[1]


def test_per_source_options_once_or_once_per_source():
    assert [s.crop for s in sources_of(["a", "b"], ["detect"])] == ["detect", "detect"]
    assert [(s.crop, s.weight) for s in sources_of(["a", "b"], ["as-is", "detect"], [1, 2.5])] == [
        ("as-is", 1.0), ("detect", 2.5)]
    assert Source("x/aaf/labels.csv").name == "aaf" and Source("x/UTKFace").name == "UTKFace"
    with pytest.raises(FaceKitError, match="--crop given 2 times for 3 --data"):
        sources_of(["a", "b", "c"], ["as-is", "detect"])


def test_source_weights_and_balance_set_how_often_images_are_drawn(two_sources):
    folder, csv_file = two_sources
    train = read_splits(sources_of([str(folder), str(csv_file)]))[0]["train"]
    weights = sampling_weights(train, "none", [1.0, 3.0])
    assert (weights[train.sources == 0] == 1).all() and (weights[train.sources == 1] == 3).all()
    drawn = train.subset(resample_index(weights))
    assert np.bincount(drawn.sources).tolist() == [int((train.sources == 0).sum()), 3 * int((train.sources == 1).sum())]
    balanced = sampling_weights(train, "sex-decade", [1.0, 0.0])
    assert (balanced[train.sources == 1] == 0).all() and (balanced[train.sources == 0] >= 1).all()
    assert not (train.subset(resample_index(balanced)).sources == 1).any()  # a weight of 0 leaves a source out
    text = describe_weights(train, weights, ["UTKFace", "other"])
    assert "other: " in text and "drawn per epoch" in text and "female: " in text


@pytest.mark.slow
@needs_utkface
@needs_aaf
def test_utkface_and_aaf_together_keep_utkface_s_split_and_crop_aaf(project, utkface_read):
    """Real sources: UTKFace's split is the one it has alone; AAF's faces are cropped (named by content), without
    race, and each part is AAF's own by file name."""
    sources = [Source(str(UTKFACE)), Source(str(AAF / "labels.csv"), crop="detect")]
    splits, records, names = read_splits(sources, limit=40)
    utkface_alone = split(utkface_read[0], limit=40)  # read_dataset(UTKFACE), read once a session
    aaf_alone = split(read_dataset(str(AAF / "labels.csv")), limit=40)
    for part in ("train", "val", "test"):
        joined = splits[part]
        assert sorted(joined.subset(joined.sources == 0).names) == sorted(utkface_alone[part].names)
        aaf = joined.subset(joined.sources == 1)
        assert len(aaf) <= len(aaf_alone[part]) and (aaf.races == MISSING).all()
        assert all(p.startswith(str(project / "train_data" / "crops")) for p in aaf.paths)
        assert sorted(aaf.ages.tolist()) == sorted(aaf_alone[part].ages.tolist()) or len(aaf) < len(aaf_alone[part])
    assert records[1]["crop"] == "detect" and records[1]["files"] == 6436
    assert len(names["test"]) == len(utkface_alone["test"]) + len(aaf_alone["test"])


def test_a_source_given_twice_or_images_shared_by_two_sources_are_refused(tmp_path):
    """--data a.csv --data a.csv counted every image twice; two CSVs of the same images with opposite labels
    trained without a word (issue 28)."""
    images = tmp_path / "images"
    names = sorted(write_utkface_folder(images, count=6))
    rows = [f"{name},{name.split('_')[1]}" for name in names]
    flipped = [f"{name},{1 - int(name.split('_')[1])}" for name in names]
    (tmp_path / "a.csv").write_text("file,gender\n" + "\n".join(f"images/{row}" for row in rows) + "\n")
    (tmp_path / "b.csv").write_text("file,gender\n" + "\n".join(f"images/{row}" for row in flipped) + "\n")
    with pytest.raises(InputError, match="a.csv is given twice"):
        check_sources(sources_of([str(tmp_path / "a.csv"), str(tmp_path / "a.csv")]))
    with pytest.raises(InputError, match=r"6 image\(s\) of --data .*b.csv are images of another --data too"):
        read_splits(sources_of([str(tmp_path / "a.csv"), str(tmp_path / "b.csv")]))
