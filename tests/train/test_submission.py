"""face_train.py predict (facekit/train/submission.py): a submission file from a model of any runtime."""
import csv

import numpy as np
import pytest

import face_train
from facekit.core.errors import FaceKitError
from facekit.core.labels import AgeBins
from facekit.infer.predictors import load_predictor, read_faces
from facekit.train.submission import labels_from, read_sample, write_submission


def _write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    return path


def test_labels_are_classes_or_whole_years():
    bins = AgeBins()
    probs = {"gender": np.array([[0.9, 0.1], [0.2, 0.8]]),
             "age": np.stack([bins.soft_labels(np.array([30]))[0], bins.soft_labels(np.array([61]))[0]])}
    assert labels_from(probs, "gender", bins).tolist() == [0, 1]
    assert labels_from(probs, "age", bins).tolist() == [30, 61]


def test_submission_is_the_predictors_labels_in_the_samples_order(tiny_model_file, tiny_utkface, tmp_path):
    files = sorted(tiny_utkface.glob("*.jpg"))[:10]
    test_csv = _write_csv(tmp_path / "test.csv", ["id", "file"], [[f"i{k}", f.name] for k, f in enumerate(files)])
    order = [f"i{k}" for k in reversed(range(10))]
    sample = _write_csv(tmp_path / "sample.csv", ["Id", "Age"], [[i, 0] for i in order])
    assert read_sample(sample) == (["Id", "Age"], order)
    output = tmp_path / "submission.csv"
    face_train.main(["predict", str(test_csv), "--images", str(tiny_utkface), "--model", str(tiny_model_file),
                     "--output", str(output), "--sample", str(sample), "--label-column", "age"])
    predictor = load_predictor(tiny_model_file)
    ages = labels_from(predictor.probabilities(read_faces(files, predictor.input_size)), "age", predictor.age_bins)
    expected = dict(zip([f"i{k}" for k in range(10)], ages.tolist()))
    with open(output) as f:
        written = list(csv.reader(f))
    assert written == [["Id", "Age"], *[[i, str(expected[i])] for i in order]]
    rows = write_submission(test_csv, tiny_model_file, tmp_path / "plain.csv", images=tiny_utkface, head="gender")
    assert [identifier for identifier, _ in rows] == [f"i{k}" for k in range(10)]
    twice = _write_csv(tmp_path / "twice.csv", ["id", "label"], [["a", 0], ["a", 1]])
    with pytest.raises(FaceKitError, match="holds 1 id\\(s\\) more than once: a"):
        read_sample(twice)
