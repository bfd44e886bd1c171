"""The face detectors, each with one method: ``detect(image_rgb) -> [Face, ...]``, largest face first.

Registered, with their crop geometry, in ``facekit/vision/detectors.py`` (``create_detector(name)``). Detectors:
    yunet  the default: OpenCV's YuNet (``cv2.FaceDetectorYN``), fast and accurate, boxes and landmarks; its .onnx
           file ships in facekit/vision/models/ (MIT, OpenCV Zoo).
    mtcnn  the ``mtcnn`` package (TensorFlow; the wheel ships its weights); boxes and landmarks.
    ssd    OpenCV's res10 SSD (``cv2.dnn``): boxes only; needs its .pb file and the .pbtxt beside it. It sees the
           photo at 300x300, so it misses small faces in large photos, and for a face filling more than about
           40% of the photo it often adds a spurious second box over the face's lower part.
    haar   OpenCV's bundled frontal-face Haar cascade: no extra file, fastest, misses turned faces; boxes only.

Landmarks, when a detector gives them, are a (5, 2) float32 array in image pixels, always in this order:
the subject's right eye, left eye, nose tip, right mouth corner, left mouth corner. For an upright face the
subject's right eye is on the image's left, so the x of point 0 is smaller than that of point 1.
"""
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from facekit.core.errors import InputError, ModelError
from facekit.core.extras import check_installed, require

YUNET_FILE = "face_detection_yunet_2023mar.onnx"
YUNET_URL = "https://github.com/opencv/opencv_zoo/tree/main/models/face_detection_yunet"
SSD_FILE = "opencv_face_detector_uint8.pb"
SSD_CONFIG_FILE = "opencv_face_detector.pbtxt"
SSD_URL = ("https://raw.githubusercontent.com/opencv/opencv_3rdparty/dnn_samples_face_detector_20180220_uint8/"
           f"{SSD_FILE} and https://raw.githubusercontent.com/opencv/opencv/4.x/samples/dnn/face_detector/"
           f"{SSD_CONFIG_FILE}")


@dataclass
class Face:
    """One detected face. ``box`` is (x, y, width, height) in image pixels, clipped to the image."""

    box: tuple[int, int, int, int]
    score: float
    landmarks: np.ndarray | None = None


def clip_box(x1: float, y1: float, x2: float, y2: float, width: int, height: int) -> tuple[int, int, int, int]:
    """Corner coordinates (floats, possibly outside the image) -> an (x, y, w, h) int box inside it."""
    x1, x2 = (int(round(min(max(v, 0), width))) for v in (x1, x2))
    y1, y2 = (int(round(min(max(v, 0), height))) for v in (y1, y2))
    return x1, y1, x2 - x1, y2 - y1


def _faces_with_area(faces: Iterable[Face]) -> list[Face]:
    """Drops faces whose clipped box is empty (found entirely outside the image), largest first."""
    kept = [face for face in faces if face.box[2] > 0 and face.box[3] > 0]
    return sorted(kept, key=lambda face: face.box[2] * face.box[3], reverse=True)


class MtcnnDetector:
    """MTCNN from the ``mtcnn`` package (TensorFlow). Built on first use: importing it loads TensorFlow."""

    name = "mtcnn"
    default_min_score = 0.9
    _LANDMARK_KEYS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")  # mtcnn names by image side

    def __init__(self, min_score: float | None = None, min_face_size: int = 20) -> None:
        check_installed("mtcnn", "the mtcnn detector", "tensorflow")  # once, now: not for every photo
        self.min_score = self.default_min_score if min_score is None else min_score
        self.min_face_size = min_face_size
        self._mtcnn: Any = None

    def detect(self, image_rgb: np.ndarray) -> list[Face]:
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
        return _faces_with_area(faces)


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

    def detect(self, image_rgb: np.ndarray) -> list[Face]:
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
        return _faces_with_area(faces)

    def _rows_at(self, image_rgb: np.ndarray, scale: float, pad_fraction: float) -> np.ndarray:
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
        rows = self._detect_rows(resized)
        rows[:, [0, 1, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]] -= pad  # x, y of the box and of each landmark
        rows[:, [0, 2, 4, 6, 8, 10, 12]] *= width / size[0]  # every x and the width
        rows[:, [1, 3, 5, 7, 9, 11, 13]] *= height / size[1]  # every y and the height
        return rows

    def _detect_rows(self, image_rgb: np.ndarray) -> np.ndarray:
        height, width = image_rgb.shape[:2]
        self._net.setInputSize((width, height))
        _, rows = self._net.detect(cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR))
        if rows is None:
            return np.zeros((0, 15), np.float32)
        return rows[np.isfinite(rows).all(axis=1)]  # a photo a pixel or two high gives rows of NaN


class SsdDetector:
    """OpenCV's res10 300x300 SSD (8-bit TensorFlow graph); boxes only."""

    name = "ssd"
    default_min_score = 0.5
    _INPUT_SIZE = (300, 300)
    _MEAN_BGR = (104, 117, 123)

    def __init__(self, model_path: str | Path | None, min_score: float | None = None) -> None:
        path = require_model_file(model_path, "ssd", SSD_FILE, SSD_URL)
        config = path.with_name(SSD_CONFIG_FILE)
        if not config.is_file():
            raise ModelError(f"the ssd detector needs {SSD_CONFIG_FILE} beside {path} (get it from {SSD_URL})")
        self.min_score = self.default_min_score if min_score is None else min_score
        try:
            self._net = cv2.dnn.readNetFromTensorflow(str(path), str(config))
        except cv2.error as error:
            raise ModelError(f"cannot load the ssd model {path}: {error.err}") from error

    def detect(self, image_rgb: np.ndarray) -> list[Face]:
        height, width = image_rgb.shape[:2]
        # The network was trained on BGR with these means: swapRB turns our RGB into BGR.
        blob = cv2.dnn.blobFromImage(image_rgb, 1.0, self._INPUT_SIZE, self._MEAN_BGR, swapRB=True)
        self._net.setInput(blob)
        rows = self._net.forward()[0, 0]  # (N, 7): image id, class, score, x1, y1, x2, y2 (fractions)
        faces = []
        for score, x1, y1, x2, y2 in rows[rows[:, 2] >= self.min_score][:, 2:7]:
            box = clip_box(x1 * width, y1 * height, x2 * width, y2 * height, width, height)
            faces.append(Face(box, float(score)))
        return _faces_with_area(faces)


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

    def detect(self, image_rgb: np.ndarray) -> list[Face]:
        height, width = image_rgb.shape[:2]
        gray = cv2.equalizeHist(cv2.cvtColor(image_rgb, cv2.COLOR_RGB2GRAY))
        boxes, _, weights = self._cascade.detectMultiScale3(
            gray, scaleFactor=1.1, minNeighbors=5, minSize=(self.min_face_size,) * 2, outputRejectLevels=True)
        faces = [Face(clip_box(x, y, x + w, y + h, width, height), float(weight))
                 for (x, y, w, h), weight in zip(boxes, np.ravel(weights)) if weight >= self.min_score]
        return _faces_with_area(faces)


def require_model_file(model_path: str | Path | None, detector: str, file_name: str, url: str) -> Path:
    if model_path is None:
        raise ModelError(f"the {detector} detector needs its model file {file_name}: pass --detector-model PATH "
                           f"(get it from {url})")
    path = Path(model_path)
    if not path.is_file():
        raise ModelError(f"{detector} model file not found: {path} (get {file_name} from {url})")
    return path
