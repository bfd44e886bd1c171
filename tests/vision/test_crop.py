"""crop_faces cuts a detected face out the way UTKFace's training crops were cut."""
import cv2
import numpy as np
import pytest

from facekit.vision.crop import UTKFACE_SIZE, box_matrix, crop_faces
from facekit.vision.detectors import DETECTORS, create_detector
from facekit.vision.detectors.base import Face
from facekit.vision.detectors.yunet import YuNetDetector
from tests.face_scenes import FACE_FILES, GRAY, make_detector, utkface_face
from tests.shared_data import needs_utkface

# Mean distance (pixels in the 200x200 crop) between a face's landmarks in its UTKFace crop and in our crop of
# it: each face differs from the mean template (about 5 px per point) and box crops cannot follow the eyes.
MAX_ALIGNED_ERROR = 6.0
MAX_BOX_ERROR = 10.0


def placed_on_canvas(face, angle, scale):
    """The 200x200 face rotated and scaled onto a 700x600 gray canvas, as in a photo."""
    matrix = cv2.getRotationMatrix2D((UTKFACE_SIZE / 2, UTKFACE_SIZE / 2), angle, scale)
    matrix[:, 2] += (250, 200)
    return cv2.warpAffine(face, matrix, (700, 600), borderValue=GRAY)


@pytest.fixture(scope="module")
def landmarks_in_crop():
    """YuNet's landmarks of a 200x200 face crop (padded first: detectors miss faces that fill the image), at full
    resolution (``min_face_size`` RELIABLE_FACE): the yardstick, whatever resolution the detector under test uses."""
    make_detector("yunet")  # skips without its model file
    yunet = create_detector("yunet", min_face_size=YuNetDetector.RELIABLE_FACE)

    def find(crop):
        padded = cv2.copyMakeBorder(crop, 100, 100, 100, 100, cv2.BORDER_CONSTANT, value=GRAY)
        faces = yunet.detect(padded)
        assert len(faces) == 1
        return faces[0].landmarks - 100
    return find


@needs_utkface
@pytest.mark.parametrize("detector_name", sorted(DETECTORS))
def test_crop_puts_utkface_faces_back_where_they_were(detector_name, landmarks_in_crop):
    # Box-only detectors cannot undo a rotation, so they get upright faces.
    angle = 0 if DETECTORS[detector_name].crop.template is None else 12
    detector = make_detector(detector_name)
    errors = []
    for index in range(len(FACE_FILES)):
        original = utkface_face(index)
        photo = placed_on_canvas(original, angle, scale=1.6)
        faces = detector.detect(photo)
        assert len(faces) == 1
        crop = crop_faces(photo, faces, UTKFACE_SIZE, DETECTORS[detector_name].crop)[0]
        errors.append(np.linalg.norm(landmarks_in_crop(crop) - landmarks_in_crop(original), axis=1).mean())
    limit = MAX_BOX_ERROR if DETECTORS[detector_name].crop.template is None else MAX_ALIGNED_ERROR
    assert np.mean(errors) < limit, np.round(errors, 1)


def test_crops_have_the_model_size_in_detection_order():
    image = np.zeros((300, 400, 3), np.uint8)
    image[50:150, 50:150] = 200
    faces = [Face((50, 50, 100, 100), 0.9), Face((250, 100, 60, 60), 0.8)]
    crops = crop_faces(image, faces, 64, DETECTORS["ssd"].crop)
    assert crops.shape == (2, 64, 64, 3) and crops.dtype == np.uint8
    assert crops[0, 32, 32, 0] == 200 and crops[1, 32, 32, 0] == 0


def test_landmarks_map_onto_the_template_scaled_to_the_input_size():
    spec = DETECTORS["yunet"].crop
    # A face whose landmarks are the template, enlarged 3x and moved: the crop must undo exactly that.
    landmarks = spec.template * 3 + (100, 50)
    face = Face((100, 50, 600, 600), 0.9, landmarks.astype(np.float32))
    image = np.zeros((800, 800, 3), np.uint8)
    for x, y in landmarks.astype(int):
        cv2.circle(image, (x, y), 9, (255, 255, 255), -1)
    crop = crop_faces(image, [face], 100, spec)[0]
    for x, y in spec.template / 2:
        assert crop[int(round(y)), int(round(x))].min() > 200


def test_scaled_spec_widens_the_crop_around_the_same_centre():
    spec = DETECTORS["ssd"].crop
    box = (100, 100, 80, 80)
    normal, wide = box_matrix(box, 64, spec), box_matrix(box, 64, spec.scaled(1.5))
    assert wide[0, 0] == pytest.approx(normal[0, 0] / 1.5)
    centre = np.array([140 + spec.box_shift[0] * 80, 140 + spec.box_shift[1] * 80, 1.0])
    np.testing.assert_allclose(normal @ centre, (32, 32))
    np.testing.assert_allclose(wide @ centre, (32, 32))
    template = DETECTORS["mtcnn"].crop.scaled(2.0).template
    np.testing.assert_allclose(template - 100, (DETECTORS["mtcnn"].crop.template - 100) / 2, atol=1e-4)
