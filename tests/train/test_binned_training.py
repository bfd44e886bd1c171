"""Training with FairFace beside exact-age sources: age bins as intervals, seven races, UTKFace's coarser race sets,
and a model trained before the seven (UTKFace's five) as a starting point."""
import json

import numpy as np
import pytest

from facekit.backbones.model import build_model, load_model
from facekit.core import paths
from facekit.core.labels import RACES, UTKFACE_RACES, AgeBins, to_utkface_races
from facekit.infer.results import predictions_from
from facekit.train import training
from facekit.train.pipeline import Augmentation
from tests.synthetic_faces import write_fairface_folder, write_utkface_folder


@pytest.mark.slow
def test_a_run_on_binned_and_exact_ages_checkpoints_a_seven_race_model_that_loads(project, tmp_path):
    write_fairface_folder(tmp_path / "fairface", train=96, val=24)
    write_utkface_folder(tmp_path / "UTKFace", count=64)
    config = training.TrainConfig(data=[str(tmp_path / "fairface"), str(tmp_path / "UTKFace")], run="binned",
                                  backbone="simple_cnn", weights=None, input_size=32, epochs=2, batch_size=16,
                                  lr=3e-3, augmentation=training.asdict(Augmentation.off()))
    record = training.train(config)
    metrics = record.metrics
    assert record.best == project / "face_weights" / "binned" / "best.keras" and record.epochs == 2
    assert [source["files"] for source in record.sources] == [120, 64] and config.sources_read is None  # not mutated
    model = load_model(record.best)
    assert model.get_layer("race").units == len(RACES)
    # FairFace's val/ is the test split of its source: 24 images, scored on bins; UTKFace's on exact ages
    assert metrics["by_source"]["fairface"]["n_test"] == 24 and "age_bin_exact" in metrics["by_source"]["fairface"]
    assert "age_mae" in metrics["by_source"]["UTKFace"] and "age_mae" not in metrics["by_source"]["fairface"]
    assert 0 <= metrics["race_acc_utkface5"] <= 1 and np.isfinite(metrics["age_mae"])
    split = json.loads((project / "face_weights" / "binned" / "split.json").read_text())
    assert sum(name.startswith("fairface/") for name in split["test"]) == 24


def test_a_five_race_model_starts_a_seven_race_one_predicting_the_same(tmp_path):
    """--init from a model trained before FairFace: each of the seven starts as its UTKFace class, and summed
    back to the five the widened model predicts exactly what the trained one did."""
    import keras
    seven = build_model("simple_cnn", input_shape=(32, 32, 3))
    features = seven.get_layer("race").input
    five_head = keras.layers.Dense(5, activation="softmax", name="race", dtype="float32")(features)
    five = keras.Model(seven.input, {"age": seven.get_layer("age").output, "gender": seven.get_layer("gender").output,
                                     "race": five_head}, name=seven.name)
    rng = np.random.default_rng(0)
    five.set_weights([rng.normal(0, 0.3, w.shape).astype(np.float32) for w in five.get_weights()])
    five.save(tmp_path / "five.keras")
    widened = build_model("simple_cnn", input_shape=(32, 32, 3))
    training.start_from(widened, tmp_path / "five.keras")
    images = rng.integers(0, 256, (6, 32, 32, 3)).astype(np.float32)
    before, after = five.predict(images, verbose=0), widened.predict(images, verbose=0)
    np.testing.assert_allclose(to_utkface_races(after["race"]), before["race"], atol=1e-5)
    np.testing.assert_allclose(after["age"], before["age"], atol=1e-6)


def test_predictions_name_the_models_own_race_classes():
    age = AgeBins().soft_labels([30])
    for classes in (RACES, UTKFACE_RACES):
        race = np.eye(len(classes), dtype=np.float32)[[1]]
        prediction = predictions_from({"age": age, "gender": np.array([[0.2, 0.8]]), "race": race}, AgeBins())[0]
        assert list(prediction.race_probabilities) == list(classes) and prediction.race == classes[1]
        assert prediction.to_dict()["probabilities"]["race"] == {c: float(c == classes[1]) for c in classes}


def test_the_default_model_is_read_with_the_race_classes_it_was_trained_with():
    from facekit.infer.predictors import load_predictor
    predictor = load_predictor(paths.default_model())
    face = np.full((1, 150, 150, 3), 128, np.uint8)
    classes = list(predictor.predict(face)[0].race_probabilities)
    assert tuple(classes) in (RACES, UTKFACE_RACES)
