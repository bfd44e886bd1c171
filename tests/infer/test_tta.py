"""Test-time augmentation (facekit/infer/tta.py): every predictor and evaluation average the probabilities of a face's
variants (its mirror image, its corner crops)."""
import argparse
import json

import cv2
import numpy as np
import pytest
from PIL import Image

import face_train
from facekit.apps.cli import add_analyzer_arguments, analyzer_from_options, analyzer_options
from facekit.backbones.model import load_model
from facekit.core import paths
from facekit.core.errors import InputError
from facekit.data.datasets import read_dataset
from facekit.data.samples import split
from facekit.infer.analyzer import FaceAnalyzer
from facekit.infer.predictors import load_predictor, read_faces
from facekit.infer.scoring import compute_metrics, evaluate
from facekit.infer.tta import CORNER_SIDE, TTA, probabilities_with, variants
from tests.shared_data import UTKFACE, needs_utkface


def _real_faces(count=6, size=80):
    files = sorted(UTKFACE.glob("*.jpg"))[:count]
    return np.stack([np.asarray(Image.open(f).convert("RGB").resize((size, size))) for f in files])


@needs_utkface
@pytest.mark.parametrize("suffix", [".keras", ".tflite"])
def test_flip_averages_each_face_and_its_mirror_on_real_faces(suffix):
    faces = _real_faces()
    model = paths.default_model(suffix)
    plain, flipped = load_predictor(model), load_predictor(model, tta="flip")
    one, mirrored = plain.probabilities(faces), plain.probabilities(faces[:, :, ::-1])
    averaged = flipped.probabilities(faces)
    for head in ("age", "gender", "race"):
        np.testing.assert_allclose(averaged[head], (one[head] + mirrored[head]) / 2, atol=1e-5)
        assert not np.allclose(averaged[head], one[head], atol=1e-4)  # real faces are not symmetric
    assert len(flipped.predict(faces)) == len(faces)


def test_each_tta_gives_its_variants_in_the_batch_shape():
    batch = np.random.default_rng(0).uniform(0, 255, (3, 40, 30, 3)).astype(np.float32)
    counts = {tta: len(variants(batch, tta)) for tta in TTA}
    assert counts == {"none": 1, "flip": 2, "crops": 5, "flip+crops": 10}
    every = variants(batch, "flip+crops")
    assert all(variant.shape == batch.shape and variant.dtype == np.float32 for variant in every)
    np.testing.assert_array_equal(every[0], batch)
    height, width = round(CORNER_SIDE * 40), round(CORNER_SIDE * 30)
    bottom_right = cv2.resize(np.ascontiguousarray(batch[1, -height:, -width:]), (30, 40))
    np.testing.assert_allclose(every[4][1], bottom_right)
    for crop, mirrored in zip(every[:5], every[5:]):  # the second five: the first five mirrored
        np.testing.assert_array_equal(mirrored, crop[:, :, ::-1])
    assert variants(batch[:0], "flip+crops")[3].shape == (0, 40, 30, 3)


def test_a_symmetric_face_gives_identical_mirrors_and_a_flat_one_identical_crops():
    half = np.random.default_rng(1).uniform(0, 255, (2, 24, 12, 3)).astype(np.float32)
    symmetric = np.concatenate([half, half[:, :, ::-1]], axis=2)
    plain, *crops, mirror = variants(symmetric, "flip+crops")[:6]
    np.testing.assert_array_equal(mirror, plain)
    # top left mirrored: top right
    np.testing.assert_allclose(variants(symmetric, "flip+crops")[6], crops[1], atol=1e-3)
    flat = np.full((2, 24, 24, 3), 117.0, np.float32)
    for variant in variants(flat, "crops"):
        np.testing.assert_allclose(variant, flat, atol=1e-3)


def test_probabilities_are_averaged_over_the_variants():
    batch = np.random.default_rng(2).uniform(0, 255, (4, 20, 20, 3)).astype(np.float32)
    seen = []

    def brightness(images):  # a stand-in model: one "probability" per image, its mean pixel
        seen.append(images.copy())
        return {"age": images.mean(axis=(1, 2, 3))[:, None]}

    averaged = probabilities_with(brightness, batch, "flip+crops")["age"]
    assert len(seen) == 10
    np.testing.assert_allclose(averaged[:, 0], np.mean([v.mean(axis=(1, 2, 3)) for v in seen], axis=0), rtol=1e-5)


def test_unknown_tta_and_a_predictor_with_tta_are_one_line_errors():
    with pytest.raises(InputError,
                       match="unknown test-time augmentation 'crop': use one of none, flip, crops, flip\\+crops"):
        load_predictor(paths.default_model(), tta="crop")
    with pytest.raises(InputError, match="pass tta= to load_predictor"):
        FaceAnalyzer(load_predictor(paths.default_model()), detector="haar", tta="flip")


def test_evaluation_with_flip_scores_the_averaged_probabilities(tiny_model_file, tiny_utkface, tmp_path):
    model = load_model(tiny_model_file)
    test = split(read_dataset(tiny_utkface))["test"]
    predictor = load_predictor(model)
    faces = read_faces(test.paths, predictor.input_size)  # read and resized as evaluation reads them
    probs = [predictor.probabilities(faces), predictor.probabilities(faces[:, :, ::-1])]
    expected = compute_metrics(test, {h: (probs[0][h] + probs[1][h]) / 2 for h in probs[0]}, predictor.age_bins)
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
    assert analyzer_from_options(analyzer_options(args)).model.tta == "flip"
    args = parser.parse_args(["--model", str(paths.default_model()), "--detector", "haar", "--tta", "flip+crops"])
    assert analyzer_from_options(analyzer_options(args)).model.tta == "flip+crops"
    assert analyzer_from_options(analyzer_options(parser.parse_args(["--detector", "haar"]))).model.tta == "none"
