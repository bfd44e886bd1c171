"""Distillation (facekit.train.distillation): targets mixed from labels and teachers, masked heads kept masked, the
teachers' predictions cached, and a run that trains on them; tiny synthetic UTKFace files (no ../shared needed)."""
import json

import numpy as np
import pytest

from facekit.core.errors import FaceKitError
from facekit.data.datasets import read_dataset
from facekit.data.samples import split
from facekit.infer.predictors import load_predictor
from facekit.infer.scoring import split_probabilities
from facekit.train import distillation, training
from facekit.train.pipeline import labels_for
from tests.logged import logged_messages
from tests.train.test_training import _config


def test_distilled_targets_mix_labels_and_teachers_and_keep_masked_rows():
    labels = {"gender": np.array([[1.0, 0.0], [0.0, 1.0]], np.float32),
              "race": np.array([[0.0, 0.0, 1.0, 0.0, 0.0], [0.0] * 5], np.float32)}  # the second: no race label
    teacher = {"gender": np.array([[0.6, 0.4], [0.2, 0.8]], np.float32),
               "race": np.full((2, 5), 0.2, np.float32)}
    mixed = distillation.distilled(labels, teacher, 0.25)
    np.testing.assert_allclose(mixed["gender"], [[0.9, 0.1], [0.05, 0.95]], rtol=1e-6)
    np.testing.assert_allclose(mixed["race"][0], [0.05, 0.05, 0.8, 0.05, 0.05], rtol=1e-6)
    assert (mixed["race"][1] == 0).all()  # no label: still masked, the teachers add nothing there
    np.testing.assert_array_equal(distillation.distilled(labels, teacher, 0.0)["gender"], labels["gender"])
    np.testing.assert_allclose(distillation.distilled(labels, teacher, 1.0)["gender"], teacher["gender"])
    with pytest.raises(FaceKitError, match="--teacher-weight 1.5"):
        distillation.distilled(labels, teacher, 1.5)


@pytest.mark.slow
def test_a_student_trains_on_its_teachers_predictions_computed_once(project, tiny_utkface, tiny_model_file,
                                                                    monkeypatch):
    teacher = str(tiny_model_file)  # any model of the same age bins teaches, whatever its input size
    seen = []
    original = training.make_dataset

    def spy(samples, labels, *args, training=False, **kwargs):
        if training:
            seen.append((samples.paths.copy(), {head: values.copy() for head, values in labels.items()}))
        return original(samples, labels, *args, training=training, **kwargs)

    monkeypatch.setattr(training, "make_dataset", spy)
    config = _config("student", tiny_utkface, epochs=1, teachers=[teacher], teacher_weight=0.5,
                     age_balance="oversample")
    with logged_messages() as messages:
        training.train(config)
    caches = list((project / "train_data" / "cache").glob("teachers_*.npz"))
    assert len(caches) == 1 and not any("read from" in m for m in messages)
    # The cache holds the teacher's own predictions, each image and its mirror image averaged.
    train_part = split(read_dataset(tiny_utkface))["train"]
    expected = split_probabilities(load_predictor(teacher, tta="flip"), train_part)
    with np.load(caches[0]) as cached:
        for head in ("age", "gender", "race"):
            np.testing.assert_allclose(cached[head], expected[head], rtol=1e-4, atol=1e-6)
    # Each drawn image's target is half its label, half the teacher's prediction for that same image, though
    # oversampling repeats images.
    paths, targets = seen[0]
    assert len(paths) > len(train_part)
    row = {path: index for index, path in enumerate(train_part.paths)}
    drawn = np.array([row[path] for path in paths])
    labels = labels_for(train_part, load_predictor(teacher).age_bins, config.age_sigma)
    # the age targets: [distribution | interval mask] (pipeline.labels_for); the teacher's goes into the first half
    taught = {**expected, "age": np.concatenate([expected["age"], np.zeros_like(expected["age"])], axis=1)}
    for head in ("age", "gender", "race"):
        np.testing.assert_allclose(targets[head], 0.5 * labels[head][drawn] + 0.5 * taught[head][drawn],
                                   rtol=1e-4, atol=1e-6)
    saved = json.loads((project / "face_weights" / "student" / "config.json").read_text())
    assert saved["teachers"] == [teacher] and saved["teacher_weight"] == 0.5 and saved["teacher_tta"] == "flip"
    # The next student of the same teacher reads its predictions from the cache.
    with logged_messages() as messages:
        again = distillation.teacher_probabilities([teacher], train_part, load_predictor(teacher).age_bins)
    assert any("read from" in m for m in messages)
    np.testing.assert_array_equal(again["age"], np.load(caches[0])["age"])


def test_a_missing_teacher_stops_the_run_before_the_data_is_read(project, tiny_utkface):
    with pytest.raises(FaceKitError, match="--teacher model not found: /nonexistent/teacher.keras"):
        training.train(_config("student", tiny_utkface, teachers=["/nonexistent/teacher.keras"]))
    assert not (project / "face_weights" / "student").exists()
