"""Real faces placed where we know they are, for the detection and demo tests: the scenes the benchmarks compose too
(benchmarks/scenes.py: the repository's face, tests/fixtures/, on gray canvases, so that these tests run the same
with or without ../shared, and the detectors' model files), and the tests' own helpers: UTKFace's crops (../shared)
for the tests about UTKFace's faces, the README's photo, the landmarks' order, detectors that skip a test when their
file is absent."""
import numpy as np
import pytest

from benchmarks.scenes import (  # noqa: F401  # GRAY to YUNET_MODEL: for the tests that import them from here
    DETECTOR_MODELS,
    FIXTURES,
    GRAY,
    SCENE_FACES,
    SSD_MODEL,
    YUNET_MODEL,
    compose,
    fixture_face,
    lacks_model_file,
    scene_detector,
)
from facekit.vision.images import read_image
from tests.shared_data import UTKFACE

# UTKFace crops (../shared), for the tests about UTKFace's own faces:
# frontal faces of both genders, four races and several ages; each is found by every detector, Haar included.
FACE_FILES = (
    "35_1_0_20170103163357623.jpg.chip.jpg",
    "28_1_2_20170104020633108.jpg.chip.jpg",
    "42_0_1_20170113150918448.jpg.chip.jpg",
    "30_0_3_20170104230725129.jpg.chip.jpg",
)

# A real photo in the repository, for the tests that must run without ../shared: the README's example (three Adience
# faces, labelled woman, man, woman, all 25-32; annotated by the default model). Its faces as the shipped YuNet finds
# them with its default search (--min-face 56), left to right: (x, y, width, height).
README_PHOTO = FIXTURES.parents[1] / "docs" / "example_annotated.jpg"
README_PHOTO_BOXES = [(87, 52, 194, 276), (489, 60, 195, 259), (913, 21, 195, 308)]
README_PHOTO_GENDERS = ["female", "male", "female"]


def utkface_face(index):
    """One of FACE_FILES; the test that asks for it is skipped on a machine without ../shared's UTKFace."""
    if not UTKFACE.is_dir():
        pytest.skip(f"UTKFace not found at {UTKFACE}")
    return read_image(UTKFACE / FACE_FILES[index])


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


def make_detector(name):
    """The named detector with its model file if it needs one (built once); skips the test when that file is
    absent."""
    if lacks_model_file(name):
        pytest.skip(f"no model file for the {name} detector (looked for {DETECTOR_MODELS.get(name)})")
    return scene_detector(name)
