"""Real faces placed where we know they are, for the detection and demo tests: the repository's face photo
(tests/fixtures/, public domain) framed as UTKFace frames its faces and composed onto gray canvases, so those tests
run the same with or without ../shared; UTKFace's own crops (../shared) for the tests about UTKFace's faces. The
detectors' model files (YuNet's ships with facekit; SSD's is in ../shared), their test settings."""
import functools
from pathlib import Path

import cv2
import numpy as np
import pytest

from facekit.vision.detectors import DETECTORS, create_detector
from facekit.vision.images import read_image
from tests.shared_data import SHARED, UTKFACE

MODELS = SHARED / "models"
YUNET_MODEL = DETECTORS["yunet"].bundled_model  # the shipped file (facekit/vision/models/): tested without ../shared
SSD_MODEL = MODELS / "face_detector_opencv_ssd_uint8" / "opencv_face_detector_uint8.pb"
DETECTOR_MODELS = {"yunet": YUNET_MODEL, "ssd": SSD_MODEL}  # for the detectors that need a model file

# The repository's face (tests/fixtures/README.md): NASA's portrait of Eileen Collins, the face and a margin, and
# the square in it that frames the face as UTKFace's crops do (eyes 0.29 of the way down, 0.42 of the side apart;
# YuNet's box about 0.9 of the side wide). The scenes' faces 0 to 3 are that square, the odd ones mirrored.
FIXTURES = Path(__file__).resolve().parent / "fixtures"
FACE_PHOTO = FIXTURES / "astronaut_face.jpg"
FACE_SQUARE = (48, 48, 100)  # x, y, side in FACE_PHOTO
SCENE_FACES = 4

# UTKFace crops (../shared), for the tests about UTKFace's own faces:
# frontal faces of both genders, four races and several ages; each is found by every detector, Haar included.
FACE_FILES = (
    "35_1_0_20170103163357623.jpg.chip.jpg",
    "28_1_2_20170104020633108.jpg.chip.jpg",
    "42_0_1_20170113150918448.jpg.chip.jpg",
    "30_0_3_20170104230725129.jpg.chip.jpg",
)
GRAY = (128, 128, 128)

# A real photo in the repository, for the tests that must run without ../shared: the README's example (three Adience
# faces, labelled woman, man, woman, all 25-32; annotated by the default model). Its faces as the shipped YuNet finds
# them with its default search (--min-face 56), left to right: (x, y, width, height).
README_PHOTO = Path(__file__).resolve().parents[1] / "docs" / "example_annotated.jpg"
README_PHOTO_BOXES = [(87, 52, 194, 276), (489, 60, 195, 259), (913, 21, 195, 308)]
README_PHOTO_GENDERS = ["female", "male", "female"]


@functools.cache
def fixture_face(index):
    """Scene face ``index`` (0 to 3): the repository's face in its UTKFace-like square, mirrored when odd."""
    x, y, side = FACE_SQUARE
    face = read_image(FACE_PHOTO)[y:y + side, x:x + side]
    face = np.ascontiguousarray(face[:, ::-1] if index % 2 else face)
    face.flags.writeable = False  # cached: shared by every scene
    return face


def utkface_face(index):
    """One of FACE_FILES; the test that asks for it is skipped on a machine without ../shared's UTKFace."""
    if not UTKFACE.is_dir():
        pytest.skip(f"UTKFace not found at {UTKFACE}")
    return read_image(UTKFACE / FACE_FILES[index])


def compose(size, placements):
    """A gray (height, width) canvas with scene face ``index`` (fixture_face) resized to ``side`` at (x, y), for each
    (index, x, y, side); returns the canvas and the placed (x, y, side, side) boxes."""
    canvas = np.full((*size, 3), GRAY, dtype=np.uint8)
    boxes = []
    for index, x, y, side in placements:
        canvas[y:y + side, x:x + side] = cv2.resize(fixture_face(index), (side, side), interpolation=cv2.INTER_AREA)
        boxes.append((x, y, side, side))
    return canvas, boxes


def four_faces():
    """1000x700 canvas with the four scene faces at different sizes, well apart."""
    return compose((700, 1000), [(0, 80, 60, 200), (1, 600, 90, 170), (2, 120, 400, 230), (3, 700, 460, 150)])


def assert_landmarks_in_order(box, points):
    """Five points inside ``box``, in the documented order: the subject's right eye, left eye, nose, right and left
    mouth corners (the subject's right is the image's left)."""
    x, y, w, h = box
    points = np.asarray(points)
    assert points.shape == (5, 2)
    assert np.all((points >= (x, y)) & (points <= (x + w, y + h))), (box, points)
    right_eye, left_eye, nose, right_mouth, left_mouth = points
    assert right_eye[0] < nose[0] < left_eye[0] and right_mouth[0] < left_mouth[0], points
    assert max(right_eye[1], left_eye[1]) < nose[1] < min(right_mouth[1], left_mouth[1]), points


@functools.cache  # building MTCNN takes seconds; detectors keep no state between images
def make_detector(name):
    """The named detector with its model file if it needs one; skips the test when that file is absent."""
    path = DETECTOR_MODELS.get(name)
    if DETECTORS[name].needs_model_file and (path is None or not path.is_file()):
        pytest.skip(f"no model file for the {name} detector (looked for {path})")
    return create_detector(name, path)
