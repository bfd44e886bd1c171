"""Every face detector, declared once: its class, whether it needs a model file, and its crop geometry.

``create_detector(name)`` builds one (a ``Detector``, ``base.py``); ``detector_spec(name).crop`` says how to cut its
faces out so that they look like the training crops. One module per detector: ``yunet`` (the default; its model file
ships in ``facekit/vision/models/``), ``mtcnn``, ``ssd``, ``haar``; what they share (``Face``, ``Detector``, box
clipping) is in ``base``.

Adding a detector: write its class in a module of its own here (the ``Detector`` protocol: ``detect(image_rgb) ->
[Face, ...]`` largest first, a ``name`` and a ``default_min_score``; constructor ``(model_path, min_score=None)`` if it
needs a model file, else ``(min_score=None)``, and ``min_face_size`` too if it takes one), measure its crop geometry
with ``benchmarks/measure_utkface_template.py``, and add one entry below (``bundled_model``: a model file shipped in
``facekit/vision/models/``, used when none is given); the tests parametrised over ``DETECTORS`` pick it up.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from facekit.core.errors import InputError
from facekit.vision.crop import CropSpec
from facekit.vision.detectors.base import Detector
from facekit.vision.detectors.haar import HaarDetector
from facekit.vision.detectors.mtcnn import MtcnnDetector
from facekit.vision.detectors.ssd import SsdDetector
from facekit.vision.detectors.yunet import YUNET_FILE, YuNetDetector

BUNDLED_MODELS = Path(__file__).resolve().parents[1] / "models"  # package data: model files that ship with facekit
DEFAULT_DETECTOR = "yunet"  # fast, accurate, and its model ships with facekit


@dataclass(frozen=True)
class DetectorSpec:
    name: str
    detector: type[Detector]  # its class
    needs_model_file: bool
    crop: CropSpec  # where its landmarks and boxes fall in UTKFace's 200x200 crops
    bundled_model: Path | None = None  # its model file in facekit/vision/models/, used when no other is given
    takes_min_face: bool = False  # its constructor takes min_face_size (the demos' --min-face)
    score_range: tuple[float, float] = (0.0, 1.0)  # the scores it gives: a --min-score outside keeps every face or none


# Crop geometry measured by benchmarks/measure_utkface_template.py on 400 UTKFace crops (padded by 100 gray
# pixels): template = mean landmarks, box_scale and box_shift = medians. Each detector places its points and boxes a
# little differently (MTCNN's eyes are 4 px closer together than YuNet's), hence one geometry per detector.
DETECTORS = {spec.name: spec for spec in (
    DetectorSpec("mtcnn", MtcnnDetector, needs_model_file=False, crop=CropSpec(0.939, (0.009, 0.064), np.array(
        [[60.0, 58.1], [136.9, 58.0], [97.5, 103.4], [63.1, 137.0], [133.3, 137.1]], dtype=np.float32)),
        takes_min_face=True),
    DetectorSpec("yunet", YuNetDetector, needs_model_file=True, crop=CropSpec(0.901, (0.002, 0.076), np.array(
        [[56.4, 58.6], [137.6, 58.5], [95.9, 104.5], [62.2, 134.6], [135.0, 133.9]], dtype=np.float32)),
        bundled_model=BUNDLED_MODELS / YUNET_FILE, takes_min_face=True),
    DetectorSpec("ssd", SsdDetector, needs_model_file=True, crop=CropSpec(1.020, (0.003, 0.023))),
    # Haar's score is a margin of its cascade's last stage, not a probability: any finite number
    DetectorSpec("haar", HaarDetector, needs_model_file=False, crop=CropSpec(0.966, (0.003, 0.080)),
                 takes_min_face=True, score_range=(-math.inf, math.inf)),
)}


def detector_spec(name: str) -> DetectorSpec:
    if name not in DETECTORS:
        raise InputError(f"unknown detector '{name}'; choose one of: {', '.join(DETECTORS)}")
    return DETECTORS[name]


def spec_of(detector: Detector) -> DetectorSpec:
    """The entry of a detector object: its own ``spec`` attribute if it is a ``DetectorSpec`` (a custom detector
    declares its name and crop geometry so), else the entry of its class or of the registered class it derives from."""
    own = getattr(detector, "spec", None)
    if isinstance(own, DetectorSpec):
        return own
    for spec in DETECTORS.values():
        if isinstance(detector, spec.detector):
            return spec
    raise InputError(f"{type(detector).__name__} is not a registered detector (facekit/vision/detectors/) and has "
                     "no spec (a DetectorSpec: its name and crop geometry)")


def create_detector(name: str = DEFAULT_DETECTOR, model_path: str | Path | None = None,
                    min_score: float | None = None, min_face_size: int | None = None) -> Detector:
    """A detector by name; ``model_path``: its model file, for those that need one (default: the one shipped with
    facekit, if any); ``min_score`` None: its default; ``min_face_size``: the smallest face wanted, in pixels (the
    demos' --min-face), for the detectors that take one (yunet: searched at the resolution that still finds it;
    mtcnn, haar: their smallest face); None: its default."""
    spec = detector_spec(name)
    if min_score is not None:
        low, high = spec.score_range
        if isinstance(min_score, bool) or not isinstance(min_score, (int, float)) or not math.isfinite(min_score) \
                or not low <= min_score <= high:
            within = "any finite number" if math.isinf(low) else f"a number from {low:g} to {high:g}"
            raise InputError(f"the {name} detector's smallest score (--min-score) is {within}, not {min_score}")
    options: dict[str, Any] = {"min_score": min_score}
    build: Callable[..., Detector] = spec.detector  # constructors differ: the spec says which arguments each takes
    if min_face_size is not None:
        if not spec.takes_min_face:
            takes = ", ".join(s.name for s in DETECTORS.values() if s.takes_min_face)
            raise InputError(f"the {name} detector takes no smallest face size (--min-face is for {takes})")
        options["min_face_size"] = min_face_size
    if spec.needs_model_file:
        return build(model_path or spec.bundled_model, **options)
    if model_path is not None:
        with_files = ", ".join(s.name for s in DETECTORS.values() if s.needs_model_file)
        raise InputError(f"the {name} detector takes no model file (--detector-model is for {with_files})")
    return build(**options)
