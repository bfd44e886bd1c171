"""Every detector finds real faces where they were placed; landmarks in one order; clear errors."""
import numpy as np
import pytest

from facekit.detection import Face, clip_box
from facekit.detectors import DETECTORS, create_detector
from facekit.errors import FaceKitError
from tests.face_scenes import compose, iou, make_detector
from tests.shared_data import needs_utkface

# The placed square is UTKFace's tight crop; detector boxes differ from it in size (see the crop geometry in facekit/detectors.py),
# so a found face counts when its box overlaps the placed one by this much.
MIN_IOU = 0.5


@pytest.fixture(scope="module", params=sorted(DETECTORS))
def detector(request):
    return make_detector(request.param)


def test_finds_each_placed_face_once(detector, four_faces_scene):
    image, placed = four_faces_scene
    faces = detector.detect(image)
    assert len(faces) == len(placed), [face.box for face in faces]
    for box in placed:
        overlaps = [iou(box, face.box) for face in faces]
        assert max(overlaps) > MIN_IOU, (detector.name, box, [face.box for face in faces])
    for face in faces:
        assert isinstance(face, Face) and all(isinstance(v, int) for v in face.box)
        assert face.score >= detector.min_score


def test_landmarks_in_documented_order_inside_the_box(detector, four_faces_scene):
    image, _ = four_faces_scene
    faces = detector.detect(image)
    if DETECTORS[detector.name].crop.template is None:
        assert all(face.landmarks is None for face in faces)
        return
    for face in faces:
        x, y, w, h = face.box
        points = face.landmarks
        assert points.shape == (5, 2)
        assert np.all((points >= (x, y)) & (points <= (x + w, y + h)))
        right_eye, left_eye, nose, right_mouth, left_mouth = points
        assert right_eye[0] < left_eye[0] and right_mouth[0] < left_mouth[0]  # subject's right is image left
        assert max(right_eye[1], left_eye[1]) < nose[1] < min(right_mouth[1], left_mouth[1])


def test_blank_image_has_no_face(detector):
    assert detector.detect(np.full((480, 640, 3), 128, np.uint8)) == []


def test_boxes_clipped_to_the_image():
    assert clip_box(-10.4, 5, 120.6, 300, 100, 200) == (0, 5, 100, 195)


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_registry_entry_is_consistent(name, tmp_path):
    spec = DETECTORS[name]
    assert spec.detector.name == name and 0 <= spec.detector.default_min_score < 1
    assert spec.crop.box_scale > 0 and len(spec.crop.box_shift) == 2
    if spec.crop.template is not None:  # five landmarks inside the 200x200 crop, eyes above mouth
        assert spec.crop.template.shape == (5, 2) and ((spec.crop.template > 0) & (spec.crop.template < 200)).all()
        assert spec.crop.template[:2, 1].max() < spec.crop.template[3:, 1].min()
    if not spec.needs_model_file:
        with pytest.raises(FaceKitError, match=f"the {name} detector takes no model file"):
            create_detector(name, tmp_path / "model.onnx")


def test_unknown_detector_lists_the_choices():
    with pytest.raises(FaceKitError, match="unknown detector 'dlib'.*mtcnn.*yunet.*ssd"):
        create_detector("dlib")


@pytest.mark.parametrize("name", [name for name, spec in DETECTORS.items() if spec.needs_model_file])
def test_file_based_detector_without_file_says_which_flag(name, tmp_path):
    with pytest.raises(FaceKitError, match="--detector-model PATH.*get it from https://"):
        create_detector(name)
    with pytest.raises(FaceKitError, match=f"{name} model file not found: .*missing.onnx"):
        create_detector(name, tmp_path / "missing.onnx")


def test_corrupt_yunet_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "face_detection_yunet_2023mar.onnx"
    bad.write_bytes(b"not an onnx model")
    with pytest.raises(FaceKitError, match="cannot load the yunet model"):
        create_detector("yunet", bad)


@needs_utkface
@pytest.mark.parametrize("name", ["mtcnn", "yunet"])
@pytest.mark.parametrize("canvas, x, side", [(1100, 100, 900), (640, 0, 640)], ids=["900px-face", "filling-photo"])
def test_close_up_faces_are_found_once(name, canvas, x, side):
    # Both are beyond YuNet's range at full size: its second, smaller pass finds them.
    image, [placed] = compose((canvas, canvas), [(0, x, x, side)])
    faces = make_detector(name).detect(image)
    assert len(faces) == 1 and iou(faces[0].box, placed) > MIN_IOU
