"""OpenCV's YuNet (``cv2.FaceDetectorYN``), the default detector: fast and accurate, boxes and landmarks. Its .onnx
file ships in facekit/vision/models/ (MIT, OpenCV Zoo)."""
from pathlib import Path
from typing import cast

import cv2
import numpy as np
from numpy.typing import NDArray

from facekit.core.errors import InputError, ModelError
from facekit.vision.detectors.base import Face, clip_box, largest_with_area, require_model_file
from facekit.vision.images import RgbImage

YUNET_FILE = "face_detection_yunet_2023mar.onnx"
YUNET_URL = "https://github.com/opencv/opencv_zoo/tree/main/models/face_detection_yunet"


class YuNetDetector:
    """OpenCV's YuNet; its output rows are x, y, w, h, five landmarks (already in our order), score.

    YuNet finds faces from about 40 pixels high (RELIABLE_FACE) to about 300, and misses close-ups that fill the photo
    and faces cut by its border. So the photo is searched twice and the boxes of both passes merged (non-maximum
    suppression): once at the resolution that still finds the smallest face wanted (``min_face_size`` pixels high,
    default DEFAULT_MIN_FACE, 56: scaled by RELIABLE_FACE / min_face_size, never enlarged), and once shrunk to at most
    SMALL_PASS_SIDE pixels with a gray border of SMALL_PASS_PAD times its longer side around it (where a face cut by
    the photo's edge looks whole enough to be found). Where that bordered pass already sees the photo at the first
    pass's resolution or finer (a 640x480 frame with ``min_face_size`` 80 or more), the first pass is skipped. On 24
    real UTKFace faces cut in half by the border of a 640x480 frame (tests/vision/test_detection.py) it finds 22 where
    the passes without the border found 16, and still no face on noise, gradients or stripes.
    """

    name = "yunet"
    default_min_score = 0.8
    # Measured on 80 All-Age-Faces photos shrunk whole (benchmarks/RESULTS.md, YuNet's resolution): at the default
    # score, faces 40 pixels high are found 77 times in 80, 48 pixels 79, from 56 every time; 20 pixels, 37.
    RELIABLE_FACE = 40
    # The default model's age error grows below about 56 pixels (same photos: MAE 3.7 years at full size, 3.9 at 64,
    # 4.1 at 48, 5.4 at 32); smaller faces may be missed unless min_face_size asks for them. 56 keeps 22 of the 24
    # half faces of tests/vision/test_detection.py (64: 21).
    DEFAULT_MIN_FACE = 56
    SMALL_PASS_SIDE = 320
    SMALL_PASS_PAD = 0.25
    # A close-up that fills the photo (FairFace's tight 224-px chips, a selfie) can still be missed with that border:
    # only when both passes found nothing, the bordered pass again with twice the border. On FairFace's train/1..2000,
    # 18 chips had no face; this finds 6 of them (benchmarks/RESULTS.md, FairFace crops).
    FALLBACK_PAD = 0.5
    _PAD_GRAY = (128, 128, 128)
    _NMS_IOU = 0.3

    def __init__(self, model_path: str | Path | None, min_score: float | None = None,
                 min_face_size: float | None = None) -> None:
        path = require_model_file(model_path, "yunet", YUNET_FILE, YUNET_URL)
        self.min_score = self.default_min_score if min_score is None else min_score
        self.min_face_size = self.DEFAULT_MIN_FACE if min_face_size is None else min_face_size
        if not self.min_face_size > 0:
            raise InputError(f"the smallest face (--min-face) must be more than 0 pixels, not {self.min_face_size}")
        try:
            self._net = cv2.FaceDetectorYN.create(str(path), "", (320, 320), self.min_score, self._NMS_IOU, 5000)
        except cv2.error as error:
            raise ModelError(f"cannot load the yunet model {path}: {error.err}") from error

    def pass_scales(self, height: int, width: int) -> tuple[float | None, float]:
        """(the plain pass's scale, or None where it is skipped; the bordered pass's scale) for a photo this size."""
        small = min(1.0, self.SMALL_PASS_SIDE / max(height, width))
        full = min(1.0, self.RELIABLE_FACE / self.min_face_size)
        return (full if full > small else None), small

    def detect(self, image_rgb: RgbImage) -> list[Face]:
        height, width = image_rgb.shape[:2]
        full, small = self.pass_scales(height, width)
        # The bordered pass last: the network keeps buffers for the last input size, so a large photo's (about
        # 0.9 GB for 4096 x 4096) are freed once it is searched.
        passes = [self._rows_at(image_rgb, full, 0.0)] if full is not None else []
        passes.append(self._rows_at(image_rgb, small, self.SMALL_PASS_PAD))
        rows = np.concatenate(passes)
        if not len(rows):
            rows = self._rows_at(image_rgb, small, self.FALLBACK_PAD)
        keep = cv2.dnn.NMSBoxes(rows[:, :4].tolist(), rows[:, 14].tolist(), 0.0, self._NMS_IOU)
        faces = []
        for row in rows[np.ravel(keep).astype(int)]:
            x, y, w, h = row[:4]
            landmarks = row[4:14].reshape(5, 2).astype(np.float32)
            faces.append(Face(clip_box(x, y, x + w, y + h, width, height), float(row[14]), landmarks))
        return largest_with_area(faces)

    def _rows_at(self, image_rgb: RgbImage, scale: float, pad_fraction: float) -> NDArray[np.float32]:
        """YuNet's rows for the photo resized by ``scale`` inside a gray border of ``pad_fraction`` times its longer
        side, mapped back to the photo's pixels: each axis by the scale its rounded side really has."""
        height, width = image_rgb.shape[:2]
        # Each side at least 1 pixel: a very thin photo (over 640:1) shrunk by the scale alone would have a side of
        # 0, which OpenCV refuses.
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        resized = image_rgb if size == (width, height) else cv2.resize(image_rgb, size, interpolation=cv2.INTER_AREA)
        pad = int(round(pad_fraction * max(size)))
        if pad:
            resized = cv2.copyMakeBorder(resized, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=self._PAD_GRAY)
        rows = self._detect_rows(cast(RgbImage, resized))  # OpenCV's stubs type any array it returns as MatLike
        rows[:, [0, 1, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]] -= pad  # x, y of the box and of each landmark
        rows[:, [0, 2, 4, 6, 8, 10, 12]] *= width / size[0]  # every x and the width
        rows[:, [1, 3, 5, 7, 9, 11, 13]] *= height / size[1]  # every y and the height
        return rows

    def _detect_rows(self, image_rgb: RgbImage) -> NDArray[np.float32]:
        height, width = image_rgb.shape[:2]
        self._net.setInputSize((width, height))
        _, rows = self._net.detect(cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR))
        if rows is None:
            return np.zeros((0, 15), np.float32)
        rows = cast(NDArray[np.float32], rows)  # (N, 15) float32; OpenCV's stubs say MatLike
        return rows[np.isfinite(rows).all(axis=1)]  # a photo a pixel or two high gives rows of NaN
