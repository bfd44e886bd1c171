"""Photo or video frame -> every face with its age, gender and race: the path the demos and ``facekit.analyze`` take.

detect (facekit.vision.detectors) -> crop like the training data (facekit.vision.crop) -> one batched predict (the
model's runtime, facekit.infer.predictors) -> one ``FaceResult`` per face (facekit.infer.results; ``to_dict()``: its
JSON entry). With an exported model
(.tflite, .onnx) and an OpenCV detector (yunet, the default; ssd, haar) no TensorFlow is imported.
"""
from __future__ import annotations

import math
import os
import threading
import time
import weakref
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np

from facekit.core import paths
from facekit.core.errors import InputError, ModelError
from facekit.infer.ensemble import Weights, parse_weights
from facekit.infer.options import AnalyzerOptions
from facekit.infer.predictors import ModelSource, Predictor, load_predictor
from facekit.infer.results import FaceResult, face_result, file_scale
from facekit.vision.crop import crop_faces
from facekit.vision.detectors import DEFAULT_DETECTOR, create_detector, spec_of
from facekit.vision.detectors.base import Detector
from facekit.vision.images import as_rgb, read_image_and_size

# A crop more than this many times wider than training's is mostly background (and far more overflows the warp).
MAX_CROP_SCALE = 10.0
# A model file, a Keras model already loaded, several of them (an ensemble), or a predictor (load_predictor's)
ModelInput: TypeAlias = ModelSource | Predictor
Image: TypeAlias = str | Path | bytes | np.ndarray


class FaceAnalyzer:
    """A model and a detector, loaded once; ``analyze(image)`` for each photo or frame.

    ``model``: a predictor (``facekit.infer.predictors.load_predictor``), a loaded Keras model, a ``.keras``,
    ``.tflite`` or ``.onnx`` path, or None for the shipped default model (``paths.default_model()``).
    ``detector``: a detector object (a registered detector's class or a subclass of one; any other declares its name
    and crop geometry as a ``spec`` attribute, a ``facekit.vision.detectors.DetectorSpec``), a detector name
    (``yunet``, ``mtcnn``, ``haar``; ``ssd`` needs ``detector_model``), or None for yunet; a named one is built with
    ``detector_model`` (its model file), ``min_score`` (faces scored lower are dropped; None: its default) and
    ``min_face_size`` (the smallest face wanted, pixels high: yunet searches at the resolution that still finds it,
    default 56; smaller faces may be missed), the demos' --detector, --detector-model, --min-score and --min-face.
    ``crop_scale`` > 1 cuts faces with more margin than training did (--crop-scale).
    ``tta``: test-time augmentation, probabilities averaged (facekit.infer.tta: ``flip``, each face and its mirror
    image; ``crops``, the face and its four corner crops; ``flip+crops``, those and their mirrors).
    ``model`` may be a list of several: an ensemble, combined by ``ensemble`` (mean, weighted, vote) with
    ``ensemble_weights`` (facekit.infer.ensemble: one per model, or ``{head: one per model}`` as
    ``face_train.py --evaluate ... --ensemble-weights fit`` prints them).

    Threads: one FaceAnalyzer may be shared; its ``analyze`` calls run one at a time, under a lock (LiteRT's
    interpreter and OpenCV's detectors are not safe to call at once: the process crashed). For photos analysed in
    parallel, give each thread its own FaceAnalyzer, or use processes.
    """

    def __init__(self, model: ModelInput | None = None, detector: Detector | str | None = None,
                 detector_model: str | Path | None = None, crop_scale: float = 1.0, tta: str = "none",
                 ensemble: str = "mean", ensemble_weights: Weights | None = None, min_score: float | None = None,
                 min_face_size: int | None = None) -> None:
        usable = isinstance(crop_scale, (int, float)) and math.isfinite(crop_scale)
        if not (usable and 0 < crop_scale <= MAX_CROP_SCALE):
            raise InputError(f"the crop scale (--crop-scale) must be more than 0 and at most {MAX_CROP_SCALE:g}, not "
                             f"{crop_scale}")
        if detector is None or isinstance(detector, str):  # the detector first: its missing file fails faster
            detector = create_detector(detector or DEFAULT_DETECTOR, detector_model, min_score, min_face_size)
        elif detector_model is not None or min_score is not None or min_face_size is not None:
            raise InputError("detector_model, min_score and min_face_size go with a detector's name; a detector "
                             "object has its own")
        self.detector = detector
        self.model_path: Path | None = None  # the file the model was loaded from, when given as a path or found
        if model is None:
            default = paths.default_model()
            if not default.is_file():  # an install without the checkout's face_weights/
                raise ModelError(f"the default model {default} is not installed here: pass --model PATH "
                                   "(a .tflite, .onnx or .keras model; model= from Python)")
            model = default
        if isinstance(model, (list, tuple)) and not model:
            raise InputError("model= is an empty list: give a model, several for an ensemble, or None for the "
                             "default")
        if isinstance(model, (list, tuple)) and len(model) == 1:
            model = model[0]
        if isinstance(model, (str, Path)):
            self.model_path = Path(model)
        if isinstance(model, Predictor):
            if tta != "none":
                raise InputError("a predictor given to FaceAnalyzer keeps its own test-time augmentation: pass tta= "
                                 "to load_predictor instead")
            self.model: Predictor = model
        else:  # path(s) or a Keras model
            self.model = load_predictor(self.model_path or model, tta=tta, ensemble=ensemble, weights=ensemble_weights)
        self.input_size: int = self.model.input_size
        self.crop_spec = spec_of(detector).crop.scaled(crop_scale)
        self._lock = threading.Lock()
        _ANALYZERS.add(self)

    @classmethod
    def from_options(cls, options: AnalyzerOptions, threads: int | None = None) -> FaceAnalyzer:
        """The analyzer ``options`` describe; ``threads``: the model runtime's CPU threads (default: all cores; a
        worker process gets its share). The detector is built first: a missing detector file fails before the
        slower model load."""
        weights = parse_weights(list(options.ensemble_weights) if options.ensemble_weights else None)
        detector = create_detector(options.detector, options.detector_model, options.min_score, options.min_face)
        model = list(options.model) if options.model else None
        if threads is not None:
            predictor = load_predictor(model or paths.default_model(), threads, tta=options.tta,
                                       ensemble=options.ensemble, weights=weights)
            return cls(predictor, detector, crop_scale=options.crop_scale)
        return cls(model, detector, crop_scale=options.crop_scale, tta=options.tta, ensemble=options.ensemble,
                   ensemble_weights=weights)

    def _after_fork(self) -> None:
        """In a child process made by ``os.fork()`` while another thread was inside ``analyze``: that thread is not
        in the child, so the lock it held would never be released there."""
        self._lock = threading.Lock()

    def analyze(self, image: Image, timings: dict[str, float] | None = None, search: Any = None) -> list[FaceResult]:
        """``image``: a path, the bytes of an image file, or an RGB uint8 array -> one FaceResult per face, largest
        first: box, score, landmarks and the prediction (``to_dict()``: the faces.json entry). A file's faces are
        in its own pixels, also when it was read shrunk. ``timings``: a dict that receives the seconds spent
        detecting and cropping + predicting ("detect", "predict"). ``search``: what finds the faces instead of the
        detector itself (a video's ``facekit.vision.region_search.RegionSearch`` over it), its crop geometry the
        detector's."""
        size = None
        if isinstance(image, (memoryview, bytearray)):
            image = bytes(image)
        if not isinstance(image, (np.ndarray, bytes, str, Path)):
            raise InputError(f"an image is a path, the bytes of an image file or an RGB uint8 array, not "
                             f"{type(image).__name__}")
        if isinstance(image, bytes) and not image:
            raise InputError("the image is empty (0 bytes)")
        if not isinstance(image, np.ndarray):  # a file: boxes in its pixels, also when it is read shrunk
            image, size = read_image_and_size(image)
        pixels = as_rgb(image)
        if 0 in pixels.shape[:2]:
            raise InputError(f"the image array is empty: shape {pixels.shape}")
        with self._lock:
            return self._analyze(pixels, size, timings, search or self.detector)

    def _analyze(self, pixels: np.ndarray, size: tuple[int, int] | None,
                 timings: dict[str, float] | None, search: Any) -> list[FaceResult]:
        start = time.perf_counter()
        faces = search.detect(pixels)
        detected = time.perf_counter()
        results = []
        if faces:
            predictions = self.model.predict(crop_faces(pixels, faces, self.input_size, self.crop_spec))
            results = [face_result(face, prediction) for face, prediction in zip(faces, predictions)]
        if timings is not None:
            timings.update(detect=detected - start, predict=time.perf_counter() - detected)
        if size is None:
            return results
        scale = file_scale(pixels, size)
        return [face.in_file_pixels(scale) for face in results]


_ANALYZERS: weakref.WeakSet[FaceAnalyzer] = weakref.WeakSet()


def _renew_locks_after_fork() -> None:
    for analyzer in list(_ANALYZERS):
        analyzer._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_renew_locks_after_fork)


def analyze(image: Image, model: ModelInput | None = None, detector: Detector | str | None = None,
            detector_model: str | Path | None = None, min_score: float | None = None, crop_scale: float = 1.0,
            tta: str = "none", ensemble: str = "mean", ensemble_weights: Weights | None = None,
            min_face_size: int | None = None) -> list[FaceResult]:
    """Every face in one photo: ``FaceAnalyzer(model, detector, ...).analyze(image)`` (``model``: one, or a list for
    an ensemble; every option as FaceAnalyzer takes it). Loads the models and detector on each call; keep a
    FaceAnalyzer for more than one photo."""
    return FaceAnalyzer(model, detector, detector_model=detector_model, crop_scale=crop_scale, tta=tta,
                        ensemble=ensemble, ensemble_weights=ensemble_weights, min_score=min_score,
                        min_face_size=min_face_size).analyze(image)
