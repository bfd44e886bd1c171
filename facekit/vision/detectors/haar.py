"""OpenCV's bundled frontal-face Haar cascade: no extra file, fastest, misses turned faces; boxes only."""
from pathlib import Path

import cv2
import numpy as np

from facekit.core.errors import ModelError
from facekit.vision.detectors.base import Face, clip_box, largest_with_area
from facekit.vision.images import RgbImage


class HaarDetector:
    """OpenCV's bundled frontal-face Haar cascade; boxes only. Its score is the cascade's last-stage weight,
    a margin rather than a probability, so ``min_score`` defaults to 0 (keep every detection)."""

    name = "haar"
    default_min_score = 0.0
    # (OpenCV's type stubs lack cv2.data)
    _CASCADE = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"  # type: ignore[attr-defined]

    def __init__(self, min_score: float | None = None, min_face_size: int = 20) -> None:
        self.min_score = self.default_min_score if min_score is None else min_score
        self.min_face_size = min_face_size
        self._cascade = cv2.CascadeClassifier(str(self._CASCADE))
        if self._cascade.empty():
            raise ModelError(f"cannot load OpenCV's Haar cascade {self._CASCADE}")

    def detect(self, image_rgb: RgbImage) -> list[Face]:
        height, width = image_rgb.shape[:2]
        gray = cv2.equalizeHist(cv2.cvtColor(image_rgb, cv2.COLOR_RGB2GRAY))
        boxes, _, weights = self._cascade.detectMultiScale3(
            gray, scaleFactor=1.1, minNeighbors=5, minSize=(self.min_face_size,) * 2, outputRejectLevels=True)
        faces = [Face(clip_box(x, y, x + w, y + h, width, height), float(weight))
                 for (x, y, w, h), weight in zip(boxes, np.ravel(weights)) if weight >= self.min_score]
        return largest_with_area(faces)
