"""Scoring (facekit/infer/scoring.py), face_train.py evaluate's work: every runtime through one predictor path; the
shipped export scores as the model it was exported from; without Matplotlib, the metrics without the plots."""
import json
import sys

import numpy as np
import pytest

import face_train
from facekit.core import paths
from facekit.data.datasets import read_dataset
from facekit.data.samples import split
from facekit.infer.predictors import load_predictor, read_faces
from facekit.infer.scoring import PLOTS, compute_metrics, evaluate, split_probabilities
from tests.logged import logged_messages
from tests.shared_data import UTKFACE, needs_utkface


def _evaluated(model, data, output, *more):
    face_train.main(["evaluate", str(model), "--data", str(data), "--output", str(output), *more])
    return json.loads(output.read_text())


def test_evaluation_reads_the_images_as_the_predictor_reads_crops(tiny_model_file, tiny_utkface, tmp_path):
    """The split's files through read_image, resized by area to the model's side, then the predictor: the same
    probabilities as the predictor gives for those crops in memory, and the metrics of them."""
    test = split(read_dataset(tiny_utkface))["test"]
    predictor = load_predictor(tiny_model_file)
    faces = read_faces(test.paths, predictor.input_size)
    assert faces.shape == (len(test), predictor.input_size, predictor.input_size, 3)
    want = predictor.probabilities(faces)
    got = split_probabilities(tiny_model_file, test, batch_size=7)  # batches of 7: the order is kept
    for head in want:
        np.testing.assert_allclose(got[head], want[head], atol=1e-5)  # float32 sums differ a little with the batch size
    metrics = _evaluated(tiny_model_file, tiny_utkface, tmp_path / "metrics.json")
    assert {k: metrics[k] for k in compute_metrics(test, want, predictor.age_bins)} == \
        compute_metrics(test, want, predictor.age_bins)
    assert all((tmp_path / plot).is_file() for plot in PLOTS)


def test_without_matplotlib_the_metrics_are_written_and_the_plots_left_out(tiny_model_file, tiny_utkface, tmp_path,
                                                                            monkeypatch):
    """The light install has no Matplotlib: evaluation there writes metrics.json and says the plots need it."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    test = split(read_dataset(tiny_utkface))["test"]
    with logged_messages() as messages:
        metrics = evaluate(tiny_model_file, test, tmp_path / "metrics.json", tiny_utkface)
    assert json.loads((tmp_path / "metrics.json").read_text()) == metrics and metrics["n_test"] == len(test)
    assert not list(tmp_path.glob("*.png"))
    assert messages == ["no plots: they need matplotlib, which is not installed: pip install .[train]"]


@pytest.mark.slow
@needs_utkface
def test_shipped_export_scores_as_its_keras_model(tmp_path, limit=300):
    """The default model (whatever paths.default_model() names) as .tflite and as the .keras it was exported from:
    the same metrics to the third decimal on the test split of a real UTKFace subset."""
    exported, keras_model = paths.default_model(), paths.default_model(".keras")
    got = _evaluated(exported, UTKFACE, tmp_path / "tflite" / "metrics.json", "--limit", str(limit))
    want = _evaluated(keras_model, UTKFACE, tmp_path / "keras" / "metrics.json", "--limit", str(limit))
    assert got["n_test"] == want["n_test"] > 0

    def numbers(metrics, prefix=""):
        for key, value in metrics.items():
            if isinstance(value, dict):
                yield from numbers(value, f"{prefix}{key}.")
            elif isinstance(value, (int, float)) and value is not None:
                yield f"{prefix}{key}", value

    want_numbers = dict(numbers(want))
    assert want_numbers.keys() == dict(numbers(got)).keys()
    for key, value in numbers(got):
        assert round(value, 3) == round(want_numbers[key], 3) or abs(value - want_numbers[key]) < 1e-4, key
