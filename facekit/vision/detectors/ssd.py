"""OpenCV's res10 SSD (``cv2.dnn``): boxes only; needs its .pb file and the .pbtxt beside it. It sees the photo at
300x300, so it misses small faces in large photos, and for a face filling more than about 40% of the photo it often
adds a spurious second box over the face's lower part."""
from pathlib import Path

import cv2

from facekit.core.errors import ModelError
from facekit.vision.detectors.base import Face, clip_box, largest_with_area, require_model_file
from facekit.vision.images import RgbImage

SSD_FILE = "opencv_face_detector_uint8.pb"
SSD_CONFIG_FILE = "opencv_face_detector.pbtxt"
SSD_URL = ("https://raw.githubusercontent.com/opencv/opencv_3rdparty/dnn_samples_face_detector_20180220_uint8/"
           f"{SSD_FILE} and https://raw.githubusercontent.com/opencv/opencv/4.x/samples/dnn/face_detector/"
           f"{SSD_CONFIG_FILE}")


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

    def detect(self, image_rgb: RgbImage) -> list[Face]:
        height, width = image_rgb.shape[:2]
        # The network was trained on BGR with these means: swapRB turns our RGB into BGR.
        blob = cv2.dnn.blobFromImage(image_rgb, 1.0, self._INPUT_SIZE, self._MEAN_BGR, swapRB=True)
        self._net.setInput(blob)
        rows = self._net.forward()[0, 0]  # (N, 7): image id, class, score, x1, y1, x2, y2 (fractions)
        faces = []
        for score, x1, y1, x2, y2 in rows[rows[:, 2] >= self.min_score][:, 2:7]:
            box = clip_box(x1 * width, y1 * height, x2 * width, y2 * height, width, height)
            faces.append(Face(box, float(score)))
        return largest_with_area(faces)
