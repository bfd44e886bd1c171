"""The committed default model: small enough to ship, and still as good on real test faces as RESULTS.md says."""
import json

import numpy as np
import pytest

from facekit.backbones.model import load_model
from facekit.core import paths
from facekit.core.labels import race_label_hits
from facekit.data.samples import split
from facekit.infer.model_metadata import metadata_path
from facekit.infer.predictors import load_predictor, predict
from facekit.infer.results import predictions_from
from facekit.vision.images import read_image
from tests.shared_data import needs_utkface

MODEL = paths.default_model(".keras")
DEFAULT = MODEL.parent
EXPORTED = paths.default_model()  # what the demos use: exported from MODEL by face.py --export


@pytest.fixture(scope="module")
def keras_model():
    """The default model's .keras, loaded once for the tests of this file."""
    return load_model(MODEL)


def test_default_model_is_shipped_with_its_metrics_and_command():
    assert MODEL.is_file() and MODEL.stat().st_size < 25 * 1024 * 1024
    metrics = json.loads((DEFAULT / "metrics.json").read_text())
    assert metrics["n_test"] == 4747
    assert "face_train.py" in (DEFAULT / "COMMAND.md").read_text()


@pytest.mark.slow
@needs_utkface
def test_default_model_on_real_test_faces(utkface_read, keras_model):
    """400 faces of the fixed test split (never seen in training), through predict() as the demos use it."""
    test = split(utkface_read[0])["test"]
    test = test.subset(np.random.default_rng(0).choice(len(test), 400, replace=False))  # names sort by age
    faces = np.stack([read_image(p) for p in test.paths])
    results = predict(keras_model, faces)
    ages = np.array([r.age for r in results])
    genders = np.array([("male", "female").index(r.gender) for r in results])
    race_probabilities = np.array([list(r.race_probabilities.values()) for r in results])
    saved = json.loads((DEFAULT / "metrics.json").read_text())
    assert np.abs(ages - test.ages).mean() < saved["age_mae"] + 1.5
    assert (genders == test.genders).mean() > saved["gender_acc"] - 0.05
    assert race_label_hits(race_probabilities, test.races).mean() > saved["race_acc"] - 0.07


def test_shipped_export_is_of_the_default_model(keras_model):
    metadata = json.loads(metadata_path(EXPORTED).read_text())
    assert EXPORTED.suffix == ".tflite" and metadata["source"] == MODEL.name
    assert metadata["format"] == "litert" and metadata["input"]["size"] == keras_model.input_shape[1]
    assert metadata["check"]["max_abs_difference"] <= metadata["check"]["tolerance"]


@pytest.mark.slow
@needs_utkface
def test_shipped_tflite_agrees_with_the_keras_model_on_real_faces(utkface_read, keras_model):
    """200 test-split faces through both runtimes: probabilities within the tolerance the export was checked to."""
    test = split(utkface_read[0])["test"]
    test = test.subset(np.random.default_rng(1).choice(len(test), 200, replace=False))
    faces = np.stack([read_image(p) for p in test.paths])
    exported, keras = load_predictor(EXPORTED), load_predictor(keras_model)
    tolerance = json.loads(metadata_path(EXPORTED).read_text())["check"]["tolerance"]
    got, want = exported.probabilities(faces), keras.probabilities(faces)
    for head in ("age", "gender", "race"):
        assert np.abs(got[head] - want[head]).max() <= tolerance, head
    # Keras' predictions from the probabilities above, as its predict() makes them (not a second pass of the model)
    for mine, theirs in zip(exported.predict(faces), predictions_from(want, keras.age_bins), strict=True):
        assert abs(mine.age - theirs.age) <= 0.1
        assert (mine.gender, mine.race) == (theirs.gender, theirs.race)
