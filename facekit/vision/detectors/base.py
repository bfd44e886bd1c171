"""What every face detector offers (``Detector``) and gives (``Face``), and the helpers its module shares.

A detector finds the faces of an RGB uint8 image: ``detect(image_rgb) -> [Face, ...]``, largest face first, none
scored below its ``min_score``, each box clipped to the image and not empty.

Landmarks, when a detector gives them, are a (5, 2) float32 array in image pixels, always in this order:
the subject's right eye, left eye, nose tip, right mouth corner, left mouth corner. For an upright face the
subject's right eye is on the image's left, so the x of point 0 is smaller than that of point 1.
"""
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from facekit.core.errors import ModelError
from facekit.vision.images import Box, Landmarks, RgbImage


@dataclass
class Face:
    """One detected face. ``box`` is (x, y, width, height) in image pixels, clipped to the image."""

    box: Box
    score: float
    landmarks: Landmarks | None = None


class Detector(Protocol):
    """A face detector: what the registry (``facekit.vision.detectors``) builds and the analyzer, the crop cache and
    the video's region search call. Its class has ``name`` (its registry key) and ``default_min_score``."""

    name: str
    default_min_score: float
    min_score: float  # faces scored lower are dropped

    def detect(self, image_rgb: RgbImage) -> list[Face]:
        """The faces of an RGB uint8 image (height, width, 3), largest first."""
        ...


def clip_box(x1: float, y1: float, x2: float, y2: float, width: int, height: int) -> Box:
    """Corner coordinates (floats, possibly outside the image) -> an (x, y, w, h) int box inside it."""
    x1, x2 = (int(round(min(max(v, 0), width))) for v in (x1, x2))
    y1, y2 = (int(round(min(max(v, 0), height))) for v in (y1, y2))
    return x1, y1, x2 - x1, y2 - y1


def largest_with_area(faces: Iterable[Face]) -> list[Face]:
    """Drops faces whose clipped box is empty (found entirely outside the image), largest first: what ``detect``
    returns."""
    kept = [face for face in faces if face.box[2] > 0 and face.box[3] > 0]
    return sorted(kept, key=lambda face: face.box[2] * face.box[3], reverse=True)


def require_model_file(model_path: str | Path | None, detector: str, file_name: str, url: str) -> Path:
    """The model file a detector needs, checked: ModelError naming the file, the flag and where to get it."""
    if model_path is None:
        raise ModelError(f"the {detector} detector needs its model file {file_name}: pass --detector-model PATH "
                         f"(get it from {url})")
    path = Path(model_path)
    if not path.is_file():
        raise ModelError(f"{detector} model file not found: {path} (get {file_name} from {url})")
    return path
