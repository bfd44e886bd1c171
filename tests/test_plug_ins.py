"""The plug-in points: a new detector, age loss or output field is a change in one module plus its registry line.
Each test adds one the way a contributor would (a class, and its line in the registry, here by monkeypatch) and
shows that everything downstream takes it without another edit: the command lines' choices, the analyzer, compiling
and training, the web service's declared answer."""
import argparse
import json

import keras
import numpy as np
import pydantic
import pytest
import tensorflow as tf

from facekit.apps import cli, train_command
from facekit.backbones.model import age_bins_of
from facekit.core.errors import InputError
from facekit.infer import results
from facekit.infer.analyzer import FaceAnalyzer
from facekit.train import losses
from facekit.train.fitting import compile_model
from facekit.vision import detectors
from facekit.vision.detectors.base import Face
from tests.face_scenes import utkface_face


class WholeImageDetector:
    """A new detector: the whole image is one face (a folder of face crops needs no search)."""

    name = "whole-image"
    default_min_score = 0.5

    def __init__(self, min_score: float | None = None) -> None:
        self.min_score = self.default_min_score if min_score is None else min_score

    def detect(self, image_rgb):
        height, width = image_rgb.shape[:2]
        return [Face((0, 0, width, height), 1.0)]


def test_a_new_detector_is_its_class_and_its_registry_line(monkeypatch, tiny_model_file):
    spec = detectors.DetectorSpec("whole-image", WholeImageDetector, needs_model_file=False,
                                  crop=detectors.DETECTORS["ssd"].crop)
    monkeypatch.setitem(detectors.DETECTORS, spec.name, spec)
    parser = argparse.ArgumentParser()
    cli.add_analyzer_arguments(parser)
    options = cli.analyzer_options(parser.parse_args(["--model", str(tiny_model_file), "--detector", "whole-image"]))
    assert options.detector == "whole-image"
    analyzer = FaceAnalyzer(model=tiny_model_file, detector="whole-image")
    assert isinstance(analyzer.detector, WholeImageDetector) and detectors.spec_of(analyzer.detector) is spec
    image = utkface_face(0)
    faces = analyzer.analyze(image)
    assert len(faces) == 1 and faces[0].box == (0, 0, image.shape[1], image.shape[0])
    with pytest.raises(InputError, match="takes no smallest face size"):
        detectors.create_detector("whole-image", min_face_size=40)  # its spec says it takes none


class ExpectedAgeL1(losses.AgeLoss):
    """A new age loss: the absolute error of the predicted distribution's expectation, in years."""

    def exact_loss(self, targets, probs):
        centres = tf.constant(self.centres)
        labelled = losses.labelled(targets)
        error = tf.abs(tf.reduce_sum(probs * centres, -1) - tf.reduce_sum(targets * centres, -1))
        return error * labelled


def test_a_new_age_loss_is_its_class_and_its_registry_line(monkeypatch, tiny_model_file, capsys):
    monkeypatch.setitem(losses.AGE_LOSSES, "expected-l1", ExpectedAgeL1)
    args = train_command.parse_args(["fit", "--data", "x", "--age-loss", "expected-l1"])
    assert args.age_loss == "expected-l1"
    model = keras.models.load_model(tiny_model_file, compile=False)
    compile_model(model, lr=1e-3, weight_decay=0.0, warmup_epochs=0, epochs=1, steps_per_epoch=1,
                  age_loss="expected-l1")
    assert isinstance(model.loss["age"], ExpectedAgeL1)
    count = len(age_bins_of(model).centres)
    ages = np.zeros((4, 2 * count), np.float32)  # exact ages in the first half, no interval in the second
    ages[np.arange(4), [1, 3, 5, 7]] = 1.0
    targets = {"age": ages, "gender": np.eye(2, dtype=np.float32)[[0, 1, 0, 1]],
               "race": np.eye(model.get_layer("race").units, dtype=np.float32)[[0, 1, 2, 3]]}
    images = np.random.default_rng(0).uniform(0, 255, (4, *model.input_shape[1:])).astype(np.float32)
    history = model.fit(images, targets, epochs=1, verbose=0).history
    assert np.all(np.isfinite(history["age_loss"]))
    # its value is the new loss's: the error in years of the expectation (the LDL loss would be a cross-entropy)
    centres = np.array(age_bins_of(model).centres)
    expected = np.mean(np.abs(model.predict(images, verbose=0)["age"] @ centres - ages[:, :count] @ centres))
    assert model.evaluate(images, targets, verbose=0, return_dict=True)["age_loss"] == pytest.approx(expected,
                                                                                                  rel=1e-3)


def test_a_new_output_field_is_its_key_and_docstring_in_the_typeddict():
    class TaggedFace(results.FaceEntry):
        quality: float
        """How sharp the face is, from 0 to 1."""

    results.documented_fields(TaggedFace)
    schema = pydantic.TypeAdapter(TaggedFace).json_schema()
    assert schema["properties"]["quality"]["description"] == "How sharp the face is, from 0 to 1."
    assert schema["properties"]["age"]["description"].startswith("Years")  # inherited, described too
    assert "quality" in schema["required"]
    json.dumps(schema)
