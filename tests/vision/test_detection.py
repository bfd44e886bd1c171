"""Every detector finds real faces where they were placed; landmarks in one order; clear errors."""
import hashlib

import cv2
import numpy as np
import pytest

from facekit.core.errors import FaceKitError, InputError
from facekit.vision.detectors import DEFAULT_DETECTOR, DETECTORS, DetectorSpec, create_detector, spec_of
from facekit.vision.detectors.base import Face, clip_box
from facekit.vision.detectors.haar import HaarDetector
from facekit.vision.detectors.yunet import YuNetDetector
from facekit.vision.images import read_image
from facekit.vision.tracking import box_iou
from tests.face_scenes import (
    GRAY,
    README_PHOTO,
    README_PHOTO_BOXES,
    SSD_MODEL,
    assert_landmarks_in_order,
    compose,
    fixture_face,
    make_detector,
    utkface_face,
)
from tests.shared_data import needs_utkface

# The placed square frames the face as UTKFace's tight crops do; detector boxes differ from it in size (see the crop
# geometry in facekit/vision/detectors/__init__.py), so a found face counts when its box overlaps the placed one by
# this much.
MIN_IOU = 0.5


@pytest.fixture(scope="module", params=sorted(DETECTORS))
def detector(request):
    return make_detector(request.param)


def test_finds_each_placed_face_once(detector, four_faces_scene):
    image, placed = four_faces_scene
    faces = detector.detect(image)
    assert len(faces) == len(placed), [face.box for face in faces]
    for box in placed:
        overlaps = [box_iou(box, face.box) for face in faces]
        assert max(overlaps) > MIN_IOU, (detector.name, box, [face.box for face in faces])
    for face in faces:
        assert isinstance(face, Face) and all(isinstance(v, int) for v in face.box)
        assert face.score >= detector.min_score


def test_landmarks_in_documented_order_inside_the_box(detector, four_faces_scene):
    image, placed = four_faces_scene
    faces = detector.detect(image)
    assert len(faces) == len(placed)  # the checks below are about these four faces
    if DETECTORS[detector.name].crop.template is None:
        assert all(face.landmarks is None for face in faces)
        return
    for face in faces:
        assert_landmarks_in_order(face.box, face.landmarks)


def test_blank_image_has_no_face(detector):
    assert detector.detect(np.full((480, 640, 3), 128, np.uint8)) == []


@pytest.mark.parametrize("shape", [(1, 700), (700, 1), (2, 1300), (1, 1), (3, 40000)])
def test_a_very_thin_photo_is_searched_without_a_crash(detector, shape):
    """Over about 640:1, YuNet's shrunk pass had a side of 0 (OpenCV's assertion); one pixel high, rows of NaN."""
    image = np.random.default_rng(0).integers(0, 256, (*shape, 3), dtype=np.uint8)
    for face in detector.detect(image):
        assert face.box[2] > 0 and face.box[3] > 0


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


def test_a_subclassed_or_self_declared_detector_is_accepted_and_a_stranger_refused():
    class Tuned(HaarDetector):
        pass

    class Custom:
        spec = DetectorSpec("custom", object, False, DETECTORS["yunet"].crop)

        def detect(self, image):
            return []

    assert spec_of(Tuned()) is DETECTORS["haar"] and spec_of(Custom()) is Custom.spec
    with pytest.raises(InputError, match="object is not a registered detector .* has no spec"):
        spec_of(object())


def test_unknown_detector_lists_the_choices():
    with pytest.raises(FaceKitError, match="unknown detector 'dlib'.*mtcnn.*yunet.*ssd"):
        create_detector("dlib")


@pytest.mark.parametrize("name", [name for name, spec in DETECTORS.items()
                                  if spec.needs_model_file and spec.bundled_model is None])
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


@pytest.mark.parametrize("name", ["mtcnn", "yunet"])
@pytest.mark.parametrize("canvas, x, side", [(1100, 100, 900), (640, 0, 640)], ids=["900px-face", "filling-photo"])
def test_close_up_faces_are_found_once(name, canvas, x, side):
    # Both are beyond YuNet's range at full size: its second, smaller pass finds them.
    image, [placed] = compose((canvas, canvas), [(1, x, x, side)])
    faces = make_detector(name).detect(image)
    assert len(faces) == 1 and box_iou(faces[0].box, placed) > MIN_IOU


def test_yunet_is_the_default_and_ships_with_its_licence():
    path = DETECTORS["yunet"].bundled_model
    assert DEFAULT_DETECTOR == "yunet" and path.stat().st_size == 232_589
    assert hashlib.sha256(path.read_bytes()).hexdigest() == \
        "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4"
    assert "MIT License" in (path.parent / "LICENSE-yunet.txt").read_text()
    assert create_detector().detect(np.full((240, 320, 3), 128, np.uint8)) == []  # loads with no file given


@pytest.mark.parametrize("min_face, overlap", [(None, 0.99), (YuNetDetector.RELIABLE_FACE, 0.75)],
                         ids=["default", "full-resolution"])
def test_the_shipped_yunet_finds_the_faces_of_the_readme_photo(min_face, overlap):
    """The shipped detector on a real photo in the repository: runs without ../shared. The boxes were recorded with
    the default search (the photo at 40/56 of its size); at full resolution they differ by a few pixels (IoU 0.82 for
    the third face, whose box then starts lower)."""
    detector = create_detector(min_face_size=min_face)
    faces = sorted(detector.detect(read_image(README_PHOTO)), key=lambda face: face.box[0])
    assert len(faces) == len(README_PHOTO_BOXES)
    for face, box in zip(faces, README_PHOTO_BOXES):
        assert box_iou(face.box, box) > overlap and face.score > 0.8, (face.box, face.score)
        assert_landmarks_in_order(face.box, face.landmarks)


@pytest.mark.parametrize("index", range(2))  # the repository's face, as it is and mirrored
@pytest.mark.parametrize("fraction", [0.4, 0.55, 0.7])
def test_yunet_finds_a_close_up_face_of_40_to_70_percent_of_the_frame(index, fraction):
    """A 640x480 frame whose face (its face box is about 0.55 of the UTKFace-like square) spans ``fraction`` of the
    height: the square is larger than the frame and cut by its edges, as in a selfie."""
    side = int(480 * fraction / 0.55)
    face = cv2.resize(fixture_face(index), (side, side), interpolation=cv2.INTER_AREA)
    canvas = np.full((side + 480, side + 640, 3), GRAY, np.uint8)  # the frame centred in a larger canvas
    canvas[240:240 + side, 320:320 + side] = face
    y, x = 240 + side // 2 - 240, 320 + side // 2 - 320
    image = np.ascontiguousarray(canvas[y:y + 480, x:x + 640])
    faces = create_detector("yunet").detect(image)
    assert len(faces) == 1 and faces[0].box[3] > 0.3 * 480


def half_face_scene(face, side, cut):
    """A 640x480 gray frame with ``face`` resized to ``side`` pixels, cut in half by its ``cut`` edge: (image, box)."""
    face = cv2.resize(face, (side, side), interpolation=cv2.INTER_AREA)
    image, half = np.full((480, 640, 3), GRAY, np.uint8), side // 2
    if cut == "left":
        image[100:100 + side, :half] = face[:, side - half:]
        return image, (0, 100, half, side)
    if cut == "right":
        image[100:100 + side, 640 - half:] = face[:, :half]
        return image, (640 - half, 100, half, side)
    image[480 - half:, 200:200 + side] = face[:half]
    return image, (200, 480 - half, side, half)


def halves_found(faces, sides):
    """How many of ``faces``, at each of ``sides``, cut by the left, right and bottom edges, YuNet finds."""
    detector = create_detector("yunet")
    found = 0
    for face in faces:
        for side in sides:
            for cut in ("left", "right", "bottom"):
                image, box = half_face_scene(face, side, cut)
                faces_found = detector.detect(image)
                assert len(faces_found) <= 1
                found += bool(faces_found) and box_iou(faces_found[0].box, box) > 0.3
    return found


@needs_utkface
def test_yunet_finds_faces_cut_in_half_by_the_border():
    """Four UTKFace faces at two sizes, cut by the left, right and bottom edges: 24 half faces. Without the padded
    pass YuNet finds 16 of them (SMALL_PASS_PAD = 0); with it, 22 (also with the default --min-face, 56; with 64 or
    more, 21)."""
    assert halves_found([utkface_face(index) for index in range(4)], (144, 240)) >= 22


def test_yunet_finds_the_repositorys_face_cut_in_half_by_the_border():
    """The same without ../shared: the repository's face and its mirror image, 144 pixels, cut by each edge. Without
    the padded pass YuNet finds 3 of these 6 halves (SMALL_PASS_PAD = 0); with it, 5."""
    assert halves_found([fixture_face(0), fixture_face(1)], (144,)) >= 5


def test_yunet_finds_no_face_where_there_is_none():
    """Noise, blurred noise, a gradient and stripes: the padded, smaller pass adds no false face."""
    rng = np.random.default_rng(0)
    images = [np.clip(rng.normal(128, 40, (480, 640, 3)), 0, 255).astype(np.uint8) for _ in range(4)]
    images += [cv2.GaussianBlur(image, (0, 0), sigma) for image, sigma in zip(images, (2, 4, 8, 16))]
    images.append(np.repeat(np.linspace(0, 255, 640, dtype=np.uint8)[None, :, None], 480, 0).repeat(3, 2))
    stripes = np.where((np.arange(640) // 40) % 2, 230, 20).astype(np.uint8)
    images.append(stripes[None, :, None].repeat(480, 0).repeat(3, 2))
    detector = create_detector("yunet")
    assert [len(detector.detect(image)) for image in images] == [0] * len(images)


def _pass_shapes(detector, image):
    """The (height, width) of every image YuNet's network is given while ``detector`` searches ``image``."""
    shapes, search = [], detector._detect_rows

    def recorded(pixels):
        shapes.append(pixels.shape[:2])
        return search(pixels)

    detector._detect_rows = recorded
    try:
        detector.detect(image)
    finally:
        del detector._detect_rows
    return shapes


@pytest.mark.parametrize("min_face, shapes", [
    (40, [(480, 640), (400, 480)]),   # at most RELIABLE_FACE: full resolution, as before --min-face
    (56, [(343, 457), (400, 480)]),   # the default: 40/56 of each side, then the bordered 320-pixel pass
    (80, [(400, 480)]),               # 0.5: the bordered pass already sees the frame at that scale
    (200, [(400, 480)]),
])
def test_yunet_searches_at_the_resolution_the_smallest_face_needs(min_face, shapes):
    """A blank frame: no face in either pass, so the bordered pass runs again with FALLBACK_PAD's wider border."""
    detector = create_detector("yunet", min_face_size=min_face)
    fallback = (240 + 2 * 160, 320 + 2 * 160)  # 320 x 240 inside a border of half its longer side
    assert _pass_shapes(detector, np.full((480, 640, 3), 128, np.uint8)) == shapes + [fallback]


def test_yunet_default_searches_a_1280x800_photo_at_40_56ths_of_its_size():
    detector = create_detector("yunet")
    assert detector.min_face_size == YuNetDetector.DEFAULT_MIN_FACE == 56
    assert _pass_shapes(detector, np.full((800, 1280, 3), 128, np.uint8)) == [(571, 914), (360, 480), (520, 640)]


def test_yunet_maps_boxes_and_landmarks_back_to_the_photo_exactly():
    """A scene enlarged twice by repeating pixels, searched at half its size, is searched on the scene itself
    (area-averaging 2x2 equal pixels gives them back): its faces are the scene's at twice the coordinates."""
    image, _ = compose((480, 640), [(0, 60, 80, 200), (2, 360, 200, 160)])
    large = image.repeat(2, axis=0).repeat(2, axis=1)
    faces = create_detector("yunet", min_face_size=YuNetDetector.RELIABLE_FACE).detect(image)
    doubled = create_detector("yunet", min_face_size=2 * YuNetDetector.RELIABLE_FACE).detect(large)
    assert len(faces) == len(doubled) == 2
    for face, twice in zip(faces, doubled):
        assert np.allclose(twice.landmarks, 2 * face.landmarks, atol=1e-3)
        difference = np.abs(np.subtract(twice.box, np.multiply(face.box, 2)))
        assert (difference <= (1, 1, 2, 2)).all(), (twice.box, face.box)  # each corner rounded to a pixel once
        assert twice.score == pytest.approx(face.score, abs=1e-6)


@pytest.mark.parametrize("min_face", [64, 96, 128])
def test_yunet_finds_every_face_of_the_smallest_size_wanted(min_face):
    """Eight faces (the repository's, as it is and mirrored) whose boxes are about ``min_face`` pixels high (YuNet's
    box is about 1.1 times the UTKFace-like square), on a 1280x800 photo searched at RELIABLE_FACE / min_face of its
    size."""
    side = int(np.ceil(min_face / 1.1))
    image, placed = compose((800, 1280), [(i % 4, 80 + 300 * (i % 4), 150 + 400 * (i // 4), side) for i in range(8)])
    faces = create_detector("yunet", min_face_size=min_face).detect(image)
    assert len(faces) == len(placed), [face.box for face in faces]
    assert min(face.box[3] for face in faces) >= 0.85 * min_face  # the scene is what it says: faces that small
    for box in placed:
        assert max(box_iou(box, face.box) for face in faces) > MIN_IOU


def test_min_face_size_goes_to_the_detectors_that_take_one():
    assert create_detector("haar", min_face_size=48).min_face_size == 48
    assert create_detector("mtcnn", min_face_size=48).min_face_size == 48
    assert create_detector("haar").min_face_size == 20  # None: the detector's own default
    with pytest.raises(InputError, match="the ssd detector takes no smallest face size .*yunet"):
        create_detector("ssd", SSD_MODEL, min_face_size=48)
    with pytest.raises(InputError, match="must be more than 0 pixels, not 0"):
        create_detector("yunet", min_face_size=0)


@pytest.mark.parametrize("name, score", [("yunet", 2.0), ("yunet", -1.0), ("yunet", float("nan")), ("ssd", 1.5),
                                         ("haar", float("inf"))])
def test_a_min_score_outside_the_detectors_scores_is_refused_before_any_work(name, score):
    """--min-score 2 found no face in any photo (exit 0); -1 and NaN reached OpenCV's assertion (issue 28)."""
    with pytest.raises(InputError, match=rf"the {name} detector's smallest score \(--min-score\) is "):
        create_detector(name, "unused.onnx" if name != "haar" else None, min_score=score)


def test_haar_takes_any_finite_score():
    assert create_detector("haar", min_score=-3.5).min_score == -3.5
