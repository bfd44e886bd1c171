"""Ensembles (facekit/ensemble.py): probabilities averaged, weighted or voted; several --evaluate models."""
import json

import numpy as np
import pytest

import face_train
from facekit.data import split
from facekit.datasets import read_dataset
from facekit.ensemble import combine
from facekit.errors import FaceKitError
from facekit.evaluation import compute_metrics, split_probabilities
from facekit.model import age_bins_of, build_model, load_model


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
                                     ("mean", [0, 0, 0], "not all 0"), ("median", None, "unknown ensemble method")):
        with pytest.raises(FaceKitError, match=message):
            combine(models, method, weights)


def test_evaluate_with_several_models_scores_their_combined_probabilities(tiny_model_file, tiny_utkface, tmp_path,
                                                                          capsys):
    other = tmp_path / "other.keras"
    build_model("simple_cnn", input_shape=(32, 32, 3)).save(other)  # another input size: each model gets its own
    models = [load_model(tiny_model_file), load_model(other)]
    test = split(read_dataset(tiny_utkface, log=lambda message: None))["test"]
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

    from facekit import paths
    from facekit.cli import add_analyzer_arguments, analyzer_from_args
    from facekit.runtimes import load_predictor

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
    analyzer = analyzer_from_args(args, log=lambda message: None)
    assert analyzer.model.method == "vote" and len(analyzer.model.predictors) == 2
    args = parser.parse_args(["--model", *map(str, members), "--ensemble", "weighted", "--detector", "haar"])
    with pytest.raises(FaceKitError, match="needs --ensemble-weights"):
        analyzer_from_args(args, log=lambda message: None)
