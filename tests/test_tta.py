"""Test-time augmentation (facekit/tta.py): every predictor and evaluation average a face's and its mirror's
probabilities."""
import argparse
import json

import numpy as np
import pytest
from PIL import Image

import face_train
from facekit import paths
from facekit.cli import add_analyzer_arguments, analyzer_from_args
from facekit.data import split
from facekit.datasets import read_dataset
from facekit.errors import FaceKitError
from facekit.evaluation import compute_metrics, evaluate
from facekit.inference import FaceAnalyzer
from facekit.model import age_bins_of, load_model
from facekit.pipeline import image_batches
from facekit.runtimes import load_predictor, predict_batches
from tests.shared_data import UTKFACE, needs_utkface


def _real_faces(count=6, size=80):
    files = sorted(UTKFACE.glob("*.jpg"))[:count]
    return np.stack([np.asarray(Image.open(f).convert("RGB").resize((size, size))) for f in files])


@needs_utkface
@pytest.mark.parametrize("suffix", [".keras", ".tflite"])
def test_flip_averages_each_face_and_its_mirror_on_real_faces(suffix):
    faces = _real_faces()
    plain, flipped = load_predictor(paths.default_model(suffix)), load_predictor(paths.default_model(suffix), tta="flip")
    one, mirrored = plain.probabilities(faces), plain.probabilities(faces[:, :, ::-1])
    averaged = flipped.probabilities(faces)
    for head in ("age", "gender", "race"):
        np.testing.assert_allclose(averaged[head], (one[head] + mirrored[head]) / 2, atol=1e-5)
        assert not np.allclose(averaged[head], one[head], atol=1e-4)  # real faces are not symmetric
    assert len(flipped.predict(faces)) == len(faces)


def test_unknown_tta_and_a_predictor_with_tta_are_one_line_errors():
    with pytest.raises(FaceKitError, match="unknown test-time augmentation 'crop': use one of none, flip"):
        load_predictor(paths.default_model(), tta="crop")
    with pytest.raises(FaceKitError, match="pass tta= to load_predictor"):
        FaceAnalyzer(load_predictor(paths.default_model()), detector="haar", tta="flip")


def test_evaluation_with_flip_scores_the_averaged_probabilities(tiny_model_file, tiny_utkface, tmp_path):
    model = load_model(tiny_model_file)
    test = split(read_dataset(tiny_utkface, log=lambda message: None))["test"]
    size = model.input_shape[1]
    probs = [predict_batches(model.predict_on_batch, image_batches(test, size, 64, flip=flip)) for flip in (False, True)]
    expected = compute_metrics(test, {h: (probs[0][h] + probs[1][h]) / 2 for h in probs[0]}, age_bins_of(model))
    metrics = evaluate(model, test, tmp_path / "metrics.json", tiny_utkface, tta="flip")
    assert metrics["tta"] == "flip"
    assert {k: v for k, v in metrics.items() if k not in ("data", "limit", "split", "tta")} == expected
    output = tmp_path / "cli" / "metrics.json"
    face_train.main(["--evaluate", str(tiny_model_file), "--data", str(tiny_utkface), "--output", str(output),
                     "--tta", "flip"])
    assert json.loads(output.read_text()) == metrics


def test_the_demos_tta_option_reaches_the_predictor():
    parser = argparse.ArgumentParser()
    add_analyzer_arguments(parser)
    args = parser.parse_args(["--model", str(paths.default_model()), "--detector", "haar", "--tta", "flip"])
    assert analyzer_from_args(args, log=lambda message: None).model.tta == "flip"
    assert analyzer_from_args(parser.parse_args(["--detector", "haar"]), log=lambda message: None).model.tta == "none"
