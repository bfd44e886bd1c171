"""MTCNN, from the ``mtcnn`` package (TensorFlow; the wheel ships its weights): boxes and landmarks."""
from typing import Any

import numpy as np

from facekit.core.extras import check_installed, require
from facekit.vision.detectors.base import Face, clip_box, largest_with_area
from facekit.vision.images import RgbImage


class MtcnnDetector:
    """MTCNN from the ``mtcnn`` package (TensorFlow). Built on first use: importing it loads TensorFlow."""

    name = "mtcnn"
    default_min_score = 0.9
    _LANDMARK_KEYS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")  # mtcnn names by image side

    def __init__(self, min_score: float | None = None, min_face_size: int = 20) -> None:
        check_installed("mtcnn", "the mtcnn detector", "tensorflow")  # once, now: not for every photo
        self.min_score = self.default_min_score if min_score is None else min_score
        self.min_face_size = min_face_size
        self._mtcnn: Any = None  # mtcnn.MTCNN, untyped

    def detect(self, image_rgb: RgbImage) -> list[Face]:
        if self._mtcnn is None:
            self._mtcnn = require("mtcnn", "the mtcnn detector").MTCNN()
        height, width = image_rgb.shape[:2]
        found = self._mtcnn.detect_faces(image_rgb, min_face_size=self.min_face_size)
        faces = []
        for item in found:
            if item["confidence"] < self.min_score:
                continue
            x, y, w, h = item["box"]
            landmarks = np.array([item["keypoints"][key] for key in self._LANDMARK_KEYS], dtype=np.float32)
            faces.append(Face(clip_box(x, y, x + w, y + h, width, height), float(item["confidence"]), landmarks))
        return largest_with_area(faces)
