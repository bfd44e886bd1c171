"""FairFace's layout as a dataset (facekit/data/fairface.py): its CSVs as published, age bins as intervals, its own
split (val/ only ever the test split), on the real sample files of ../shared and on synthetic stand-ins."""
import csv
import shutil

import numpy as np
import pytest

from facekit.core.errors import DataError
from facekit.core.labels import FAIRFACE_AGE_BINS, OPEN_END, RACE_LABELS
from facekit.data.datasets import dataset_reader, read_dataset, split_dataset
from facekit.data.fairface import TEST_FOLD, TRAIN_FOLD
from facekit.data.samples import MISSING
from tests.logged import logged_messages
from tests.shared_data import FAIRFACE_SAMPLE, needs_fairface_sample
from tests.synthetic_faces import write_fairface_folder


@needs_fairface_sample
def test_the_real_sample_reads_as_fairface_publishes_it():
    label_file = FAIRFACE_SAMPLE / "fairface_label_train.csv"
    with open(label_file, newline="") as f:
        rows = list(csv.DictReader(f))
    samples = read_dataset(label_file)
    assert dataset_reader(label_file).name == dataset_reader(FAIRFACE_SAMPLE).name == "fairface"
    assert len(samples) == len(rows) == 200
    assert (samples.ages == MISSING).all()  # a bin is never turned into a made-up exact age
    for row, interval, gender, race, path in zip(rows, samples.age_intervals, samples.genders, samples.races,
                                                  samples.paths):
        low, high = FAIRFACE_AGE_BINS[row["age"]]
        assert tuple(interval) == (low, OPEN_END if high is None else high)
        assert ("Male", "Female")[gender] == row["gender"] and RACE_LABELS[race] == row["race"]
        assert path.endswith(row["file"])
    parts = split_dataset(FAIRFACE_SAMPLE, samples)
    assert (len(parts["train"]), len(parts["val"]), len(parts["test"])) == (181, 19, 0)  # no val/ in the sample


def test_val_is_the_test_split_and_train_gives_training_and_validation(tmp_path):
    labels = write_fairface_folder(tmp_path / "ff", train=60, val=20)
    for source in (tmp_path / "ff", tmp_path / "ff" / "fairface_label_train.csv"):
        samples = read_dataset(source)
        assert len(samples) == 80 and sorted(np.unique(samples.folds)) == [TRAIN_FOLD, TEST_FOLD]
        parts = split_dataset(source, samples)
        assert all("/val/" in path for path in parts["test"].paths) and len(parts["test"]) == 20
        assert not any("/val/" in path for part in ("train", "val") for path in parts[part].paths)
        assert len(parts["train"]) + len(parts["val"]) == 60 and 0 < len(parts["val"]) < 15
        assert split_dataset(source, samples)["val"].paths.tolist() == parts["val"].paths.tolist()  # fixed
    alone = read_dataset(tmp_path / "ff" / "fairface_label_val.csv")  # the val CSV alone: all of it a test set
    assert len(alone) == 20 and (alone.folds == TEST_FOLD).all()
    limited = split_dataset(tmp_path / "ff", read_dataset(tmp_path / "ff"), limit=40)
    assert sum(len(part) for part in limited.values()) == 40
    assert {file.split("/")[0] for file in labels} == {"train", "val"}


def test_damaged_bins_are_read_with_one_warning_and_bad_rows_are_named_by_line(tmp_path):
    write_fairface_folder(tmp_path / "ff", train=12, val=0, bins=["03-Sep", "9-Mar", "Oct-19", "19-Oct", "20-29"])
    (tmp_path / "ff" / "fairface_label_val.csv").unlink()
    label_file = tmp_path / "ff" / "fairface_label_train.csv"
    lines = label_file.read_text().splitlines()
    lines += ["train/1.jpg,20-29,Male,White,True",  # the first image again, maybe with other labels
              "train/2.jpg,99-100,Male,White,True", "train/3.jpg,20-29,Other,White,True",
              "train/4.jpg,20-29,Male,Asian,True", "train/77.jpg,20-29,Male,White,True"]
    label_file.write_text("\n".join(lines) + "\n")
    with logged_messages() as messages:
        samples = read_dataset(label_file)
    skipped = next(m for m in messages if m.startswith("skipped"))
    for why in ("line 15: unknown age bin '99-100'", "line 16: unknown gender 'Other'",
                "line 17: unknown race 'Asian'", "line 18: no image file"):
        assert why in skipped
    assert "train/1.jpg is on line 2 too" in skipped or "train/1.jpg again (line 2)" in skipped
    warning = [m for m in messages if "spelt as dates" in m]
    assert len(warning) == 1 and "as 10-19, 3-9" in warning[0]
    assert set(map(tuple, samples.age_intervals.tolist())) <= {(3, 9), (10, 19), (20, 29)}
    assert len(samples) in (10, 11)  # 12 images, less the repeated one (dropped when its labels disagree)


def test_a_fairface_csv_with_another_header_is_not_taken_for_fairface(tmp_path):
    write_fairface_folder(tmp_path / "ff", train=4, val=0)
    other = tmp_path / "ff" / "other.csv"
    other.write_text("file,age,gender\ntrain/1.jpg,30,m\n")
    assert dataset_reader(other).name == "csv"
    empty = tmp_path / "empty"
    empty.mkdir()
    shutil.copy(tmp_path / "ff" / "fairface_label_train.csv", empty / "fairface_label_train.csv")
    with pytest.raises(DataError, match="no usable row"):
        read_dataset(empty)  # its images are not there: every row refused
