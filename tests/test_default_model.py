"""The committed default model: small enough to ship, and still as good on real test faces as RESULTS.md says."""
import json
from pathlib import Path

import numpy as np
from PIL import Image

from facekit.data import split
from facekit.datasets import read_dataset
from facekit.model import load_model, predict
from tests.shared_data import UTKFACE, needs_utkface

DEFAULT = Path(__file__).resolve().parents[1] / "face_weights" / "default"
MODEL = DEFAULT / "simple_cnn_80px.keras"


def test_default_model_is_shipped_with_its_metrics_and_command():
    assert MODEL.is_file() and MODEL.stat().st_size < 25 * 1024 * 1024
    metrics = json.loads((DEFAULT / "metrics.json").read_text())
    assert metrics["n_test"] == 4747
    assert "face_train.py" in (DEFAULT / "COMMAND.md").read_text()


@needs_utkface
def test_default_model_on_real_test_faces():
    """400 faces of the fixed test split (never seen in training), through predict() as the demos use it."""
    test = split(read_dataset(UTKFACE, log=lambda m: None))["test"]
    test = test.subset(np.random.default_rng(0).choice(len(test), 400, replace=False))  # names sort by age
    faces = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in test.paths])
    results = predict(load_model(MODEL), faces)
    ages = np.array([r["age"] for r in results])
    genders = np.array([("male", "female").index(r["gender"]) for r in results])
    races = np.array([("White", "Black", "Asian", "Indian", "Others").index(r["race"]) for r in results])
    saved = json.loads((DEFAULT / "metrics.json").read_text())
    assert np.abs(ages - test.ages).mean() < saved["age_mae"] + 1.5
    assert (genders == test.genders).mean() > saved["gender_acc"] - 0.05
    assert (races == test.races).mean() > saved["race_acc"] - 0.07
