"""Real faces placed where we know they are, for the benchmarks and the tests alike (tests/face_scenes.py adds the
tests' own helpers): the repository's face photo (tests/fixtures/, public domain) framed as UTKFace frames its faces
and composed onto gray canvases, so that both run the same with or without ../shared; the detectors' model files
(YuNet's ships with facekit; SSD's is in ../shared) and each detector built with its file."""
import functools
from pathlib import Path

import cv2
import numpy as np

from facekit.core.paths import shared_dir
from facekit.vision.detectors import DETECTORS, create_detector
from facekit.vision.images import read_image

MODELS = shared_dir() / "models"
YUNET_MODEL = DETECTORS["yunet"].bundled_model  # the shipped file (facekit/vision/models/): no ../shared needed
SSD_MODEL = MODELS / "face_detector_opencv_ssd_uint8" / "opencv_face_detector_uint8.pb"
DETECTOR_MODELS = {"yunet": YUNET_MODEL, "ssd": SSD_MODEL}  # for the detectors that need a model file

# The repository's face (tests/fixtures/README.md): NASA's portrait of Eileen Collins, the face and a margin, and
# the square in it that frames the face as UTKFace's crops do (eyes 0.29 of the way down, 0.42 of the side apart;
# YuNet's box about 0.9 of the side wide). The scenes' faces 0 to 3 are that square, the odd ones mirrored.
FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"
FACE_PHOTO = FIXTURES / "astronaut_face.jpg"
FACE_SQUARE = (48, 48, 100)  # x, y, side in FACE_PHOTO
SCENE_FACES = 4
GRAY = (128, 128, 128)


@functools.cache
def fixture_face(index):
    """Scene face ``index`` (0 to 3): the repository's face in its UTKFace-like square, mirrored when odd."""
    x, y, side = FACE_SQUARE
    face = read_image(FACE_PHOTO)[y:y + side, x:x + side]
    face = np.ascontiguousarray(face[:, ::-1] if index % 2 else face)
    face.flags.writeable = False  # cached: shared by every scene
    return face


def compose(size, placements):
    """A gray (height, width) canvas with scene face ``index`` (fixture_face) resized to ``side`` at (x, y), for each
    (index, x, y, side); returns the canvas and the placed (x, y, side, side) boxes."""
    canvas = np.full((*size, 3), GRAY, dtype=np.uint8)
    boxes = []
    for index, x, y, side in placements:
        canvas[y:y + side, x:x + side] = cv2.resize(fixture_face(index), (side, side), interpolation=cv2.INTER_AREA)
        boxes.append((x, y, side, side))
    return canvas, boxes


def lacks_model_file(name):
    """True when the named detector needs a model file and this machine lacks it (DETECTOR_MODELS says where it
    was looked for)."""
    path = DETECTOR_MODELS.get(name)
    return DETECTORS[name].needs_model_file and (path is None or not path.is_file())


@functools.cache  # building MTCNN takes seconds; detectors keep no state between images
def scene_detector(name):
    """The named detector, with its model file (DETECTOR_MODELS) if it needs one (``lacks_model_file`` first)."""
    return create_detector(name, DETECTOR_MODELS.get(name))
