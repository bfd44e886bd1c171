"""Ensembles (facekit/infer/ensemble.py): probabilities averaged, weighted (weights given, or fitted on the validation
split) or voted; several --evaluate models."""
import json

import numpy as np
import pytest

import face_train
from facekit.backbones.model import age_bins_of, build_model, load_model
from facekit.core.errors import FaceKitError
from facekit.core.labels import AgeBins
from facekit.data.datasets import read_dataset
from facekit.data.samples import MISSING, Samples, split
from facekit.infer.ensemble import FIT_STEPS, combine, fit_weights, parse_weights, shared_age_bins, weights_text
from facekit.infer.scoring import compute_metrics, fitted_weights, split_probabilities


def _probs(gender, age):
    return {"gender": np.array([gender], np.float32), "race": np.full((1, 5), 0.2, np.float32),
            "age": np.array([age], np.float32)}


def test_mean_weighted_and_vote_combine_as_documented():
    # Two models lean a little to male, one is sure of female: the mean says female, the vote male.
    models = [_probs([0.6, 0.4], [1, 0]), _probs([0.55, 0.45], [1, 0]), _probs([0.01, 0.99], [0, 1])]
    assert combine(models, "mean")["gender"].argmax() == 1
    voted = combine(models, "vote")
    assert voted["gender"].argmax() == 0 and np.allclose(voted["gender"], [[2 / 3, 1 / 3]], atol=1e-5)
    np.testing.assert_allclose(voted["age"], [[2 / 3, 1 / 3]], atol=1e-6)  # age is averaged, never voted
    np.testing.assert_allclose(combine(models, "weighted", [1, 1, 0])["gender"], [[0.575, 0.425]], atol=1e-6)
    assert combine(models, "vote", [1, 1, 4])["gender"].argmax() == 1  # weighted votes
    for method, weights, message in (("weighted", None, "needs --ensemble-weights"),
                                     ("mean", [1, 2], "2 ensemble weight\\(s\\) for 3 models"),
                                     ("mean", [0, 0, 0], "not all 0"), ("median", None, "unknown ensemble method"),
                                     ("weighted", [1, np.nan, 1], "^ensemble weights must be finite numbers, not "
                                                                  "\\[1.0, nan, 1.0\\]$")):
        with pytest.raises(FaceKitError, match=message):
            combine(models, method, weights)


@pytest.mark.slow
def test_evaluate_with_several_models_scores_their_combined_probabilities(tiny_model_file, tiny_utkface, tmp_path,
                                                                          capsys):
    other = tmp_path / "other.keras"
    build_model("simple_cnn", input_shape=(32, 32, 3)).save(other)  # another input size: each model gets its own
    models = [load_model(tiny_model_file), load_model(other)]
    test = split(read_dataset(tiny_utkface))["test"]
    probs = [split_probabilities(model, test) for model in models]
    for method, weights in (("mean", None), ("weighted", [3, 1])):
        output = tmp_path / method / "metrics.json"
        face_train.main(["--evaluate", str(tiny_model_file), str(other), "--data", str(tiny_utkface), "--output",
                         str(output), "--ensemble", method] + (["--ensemble-weights", "3", "1"] if weights else []))
        metrics = json.loads(output.read_text())
        assert metrics["models"] == [str(tiny_model_file), str(other)] and metrics["ensemble"] == method
        expected = compute_metrics(test, combine(probs, method, weights), age_bins_of(models[0]))
        assert {k: metrics[k] for k in expected} == expected
    assert metrics["weights"] == [0.75, 0.25]
    with pytest.raises(SystemExit) as exit_info:
        face_train.main(["--evaluate", str(tiny_model_file), str(other), "--data", str(tiny_utkface)])
    assert exit_info.value.code == 2 and "several models needs --output" in capsys.readouterr().err


def test_the_api_and_demos_combine_several_models(tiny_model_file):
    """Models of different input sizes and runtimes, behind one predictor: each reads the crops at its own size."""
    import argparse

    from facekit.apps.cli import add_analyzer_arguments, analyzer_from_options, analyzer_options
    from facekit.core import paths
    from facekit.infer.predictors import load_predictor

    members = [paths.default_model(), tiny_model_file]
    crops = np.random.default_rng(0).integers(0, 256, (3, 90, 90, 3), dtype=np.uint8)
    each = [load_predictor(m).probabilities(crops) for m in members]
    largest = max(load_predictor(m).input_size for m in members)
    for method, weights in (("mean", None), ("vote", [2, 1])):
        ensemble = load_predictor(members, ensemble=method, weights=weights)
        assert ensemble.input_size == largest and ensemble.name.startswith(f"{method} of ")
        got, want = ensemble.probabilities(crops), combine(each, method, weights)
        for head in want:
            np.testing.assert_allclose(got[head], want[head], atol=1e-5)
    assert len(ensemble.predict(crops)) == 3
    parser = argparse.ArgumentParser()
    add_analyzer_arguments(parser)
    args = parser.parse_args(["--model", *map(str, members), "--ensemble", "vote", "--detector", "haar"])
    analyzer = analyzer_from_options(analyzer_options(args))
    assert analyzer.model.method == "vote" and len(analyzer.model.predictors) == 2
    fitted = ["age=1,0", "gender=0.5,0.5", "race=0.25,0.75"]  # as face_train.py --ensemble-weights fit prints them
    args = parser.parse_args(["--model", *map(str, members), "--ensemble", "weighted", "--ensemble-weights", *fitted,
                              "--detector", "haar"])
    got, want = analyzer_from_options(analyzer_options(args)).model.probabilities(crops), \
        combine(each, "weighted", parse_weights(fitted))
    for head in want:
        np.testing.assert_allclose(got[head], want[head], atol=1e-5)
    args = parser.parse_args(["--model", *map(str, members), "--ensemble", "weighted", "--detector", "haar"])
    with pytest.raises(FaceKitError, match="needs --ensemble-weights"):
        analyzer_from_options(analyzer_options(args))


def _one_hot(indices, classes):
    return np.eye(classes, dtype=np.float32)[indices]


def _random_probabilities(rng, shape):
    values = rng.uniform(size=shape).astype(np.float32)
    return values / values.sum(axis=1, keepdims=True)


def _labelled(ages, genders, races):
    return Samples(np.array([f"{i}.jpg" for i in range(len(ages))]), ages, genders, races)


def test_fitted_weights_go_to_the_better_model_of_each_head():
    rng, bins = np.random.default_rng(0), AgeBins()
    ages, genders, races = rng.integers(1, 90, 300), rng.integers(0, 2, 300), rng.integers(0, 5, 300)
    perfect = {"age": bins.soft_labels(ages), "gender": _one_hot(genders, 2), "race": _one_hot(races, 7)}
    noise = {head: _random_probabilities(rng, values.shape) for head, values in perfect.items()}
    # the first model knows age and gender, the second race; a third knows nothing
    models = [{**perfect, "race": noise["race"]}, {**noise, "race": perfect["race"]}, noise]
    races[:10] = MISSING  # images without a label are left out of that head's fit: counted, race gets 0,0.95,0.05
    fitted = fit_weights(models, _labelled(ages, genders, races), bins)
    assert {head: values.tolist() for head, values in fitted.items()} == {"age": [1, 0, 0], "gender": [1, 0, 0],
                                                                         "race": [0, 1, 0]}
    unlabelled = fit_weights(models, _labelled(ages, np.full(300, MISSING), races), bins)
    np.testing.assert_allclose(unlabelled["gender"], [1 / 3] * 3)  # nothing to fit on: equal weights
    with pytest.raises(FaceKitError, match="^fitting ensemble weights needs 2 to 6 models, not 1$"):
        fit_weights(models[:1], _labelled(ages, genders, races), bins)


def test_models_that_agree_get_equal_weights():
    """Every grid point scores the same: the fit keeps the weights as equal as steps of 1/FIT_STEPS allow."""
    rng, bins = np.random.default_rng(1), AgeBins()
    ages, genders, races = rng.integers(1, 90, 100), rng.integers(0, 2, 100), rng.integers(0, 5, 100)
    model = {head: _random_probabilities(rng, (100, classes))
             for head, classes in (("age", bins.count), ("gender", 2), ("race", 7))}
    for count in (2, 3):
        fitted = fit_weights([model] * count, _labelled(ages, genders, races), bins)
        for weights in fitted.values():
            assert weights.sum() == pytest.approx(1) and weights.max() - weights.min() <= 1 / FIT_STEPS + 1e-9
    assert fit_weights([model] * 2, _labelled(ages, genders, races), bins)["age"].tolist() == [0.5, 0.5]


def test_models_with_other_age_bins_are_not_combined(tiny_model_file, tiny_utkface):
    from types import SimpleNamespace

    from facekit.infer.predictors import EnsemblePredictor

    assert shared_age_bins([AgeBins(), AgeBins()]) == AgeBins()
    message = "^the models' age bins differ: their age probabilities cannot be combined$"
    with pytest.raises(FaceKitError, match=message):
        shared_age_bins([AgeBins(), AgeBins(0, 90, 2)])
    with pytest.raises(FaceKitError, match=message):  # the API and demos
        EnsemblePredictor([SimpleNamespace(age_bins=bins, input_size=32, path=None) for bins in
                           (AgeBins(), AgeBins(0, 90, 2))])
    other = build_model("simple_cnn", input_shape=(32, 32, 3), age_bins=AgeBins(0, 90, 2))
    val = split(read_dataset(tiny_utkface))["val"]
    with pytest.raises(FaceKitError, match=message):  # face_train.py --evaluate
        fitted_weights([load_model(tiny_model_file), other], val)


def test_per_head_weights_combine_each_head_with_its_own():
    models = [_probs([0.6, 0.4], [1, 0]), _probs([0.2, 0.8], [0, 1])]
    per_head = {"age": [1, 0], "gender": [1, 3], "race": [1, 1]}
    combined = combine(models, "weighted", per_head)
    np.testing.assert_allclose(combined["age"], [[1, 0]])
    np.testing.assert_allclose(combined["gender"], [[0.3, 0.7]], atol=1e-6)
    with pytest.raises(FaceKitError, match="^per-head ensemble weights need each of age, gender, race, not age$"):
        combine(models, "weighted", {"age": [1, 0]})
    with pytest.raises(FaceKitError, match="^3 gender ensemble weight\\(s\\) for 2 models: give one per model$"):
        combine(models, "weighted", {**per_head, "gender": [1, 1, 1]})
    with pytest.raises(FaceKitError, match="^gender ensemble weights must be finite numbers, not \\[inf, 1.0\\]$"):
        combine(models, "weighted", {**per_head, "gender": [np.inf, 1]})
    with pytest.raises(FaceKitError, match="^ensemble weights must be numbers, not 'fit'$"):
        combine(models, "weighted", "fit")  # only face_train.py --evaluate fits weights: the API takes numbers


def test_ensemble_weights_as_typed():
    assert parse_weights(None) is None and parse_weights(["3", "1"]) == [3.0, 1.0]
    fitted = {"age": np.array([0.7, 0.3]), "gender": np.array([0.5, 0.5]), "race": np.array([0.05, 0.95])}
    assert weights_text(fitted) == "age=0.7,0.3 gender=0.5,0.5 race=0.05,0.95"
    assert parse_weights(weights_text(fitted).split()) == {"age": [0.7, 0.3], "gender": [0.5, 0.5],
                                                           "race": [0.05, 0.95]}
    assert parse_weights(["fit"], fit_allowed=True) == "fit"
    for texts, message in ((["1", "x"], "'x' is not a number$"),
                           (["fit"], "fit goes alone, with face_train.py --evaluate"),
                           (["age=1,0", "2"], "give numbers \\(one per model\\) or HEAD=W1,W2"),
                           (["size=1,0"], "HEAD one of age, gender, race"), (["age=1,,0"], "'' is not a number"),
                           (["age=1,0", "age=0,1", "gender=1,1", "race=1,1"],
                            "^--ensemble-weights age=0,1: age weights are given twice: give each head once$")):
        with pytest.raises(FaceKitError, match=message):
            parse_weights(texts)


@pytest.mark.slow
def test_evaluate_with_fitted_weights_fits_on_the_validation_split(tiny_model_file, tiny_utkface, tmp_path, capsys):
    other = tmp_path / "other.keras"
    build_model("simple_cnn", input_shape=(32, 32, 3)).save(other)
    models = [load_model(tiny_model_file), load_model(other)]
    splits = split(read_dataset(tiny_utkface))
    val = splits["val"]
    fitted = fit_weights([split_probabilities(m, val) for m in models], val, age_bins_of(models[0]))
    output = tmp_path / "fit" / "metrics.json"
    command = ["--evaluate", str(tiny_model_file), str(other), "--data", str(tiny_utkface), "--output", str(output),
               "--ensemble", "weighted", "--ensemble-weights", "fit"]
    face_train.main(command)
    printed = capsys.readouterr().out
    assert f"weights fitted on the validation split ({len(val)} images): --ensemble-weights {weights_text(fitted)}" \
        in printed
    metrics = json.loads(output.read_text())
    assert metrics["weights"] == {head: values.round(4).tolist() for head, values in fitted.items()}
    assert metrics["weights_fitted_on"] == {"split": "val", "n_val": len(val)}
    test_probs = [split_probabilities(m, splits["test"]) for m in models]
    expected = compute_metrics(splits["test"], combine(test_probs, "weighted", fitted), age_bins_of(models[0]))
    assert {k: metrics[k] for k in expected} == expected
    for wrong, message in ((["--ensemble", "mean"], "fitted weights are --ensemble weighted --ensemble-weights fit"),
                           (["--ensemble-weights", "fit", "1"], "'fit' is not a number")):
        with pytest.raises(SystemExit) as exit_info:
            face_train.main(command + wrong + ["--overwrite"])
        assert exit_info.value.code == 2 and message in capsys.readouterr().err
