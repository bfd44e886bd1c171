"""Labels readable and inside the image, colours in RGB."""
import numpy as np

from facekit.infer.results import FaceResult, Prediction, face_result
from facekit.vision.detectors.base import Face
from facekit.vision.drawing import (
    BANNER_RGB,
    BOX_COLOURS_RGB,
    annotate,
    annotate_photo,
    draw_fps,
    face_label,
    text_box_size,
    text_style,
)


def _prediction(age, gender, race):
    from facekit.core.labels import GENDERS, RACES
    return Prediction(age, 3.0, {g: float(g == gender) for g in GENDERS}, {r: float(r == race) for r in RACES}, {})


FEMALE = _prediction(31.6, "female", "East Asian")
MALE = _prediction(70.2, "male", "White")


def _face(prediction, box=(0, 0, 10, 10)):
    return FaceResult(box, 0.9, None, prediction)


def test_label_text():
    assert face_label(_face(FEMALE)) == "F 32 East Asian"
    assert face_label(_face(MALE)) == "M 70 White"


def test_label_rounds_a_half_year_up_as_the_page_does():
    """The page's Math.round(28.5) is 29; Python's round(28.5) would draw 28 on the JPEG."""
    assert face_label(_face(_prediction(28.5, "female", "East Asian"))) == "F 29 East Asian"
    assert face_label(_face(_prediction(27.5, "female", "East Asian"))) == "F 28 East Asian"
    # 28.5 in the JSON, 29 on the page
    assert face_label(_face(_prediction(28.46, "female", "East Asian"))) == "F 29 East Asian"


def test_box_drawn_in_rgb_and_input_untouched():
    image = np.full((480, 640, 3), 128, np.uint8)
    annotated = annotate(image, [face_result(Face((200, 200, 100, 120), 0.9), FEMALE)])
    assert np.all(image == 128)
    assert tuple(annotated[260, 200]) == BOX_COLOURS_RGB["female"]  # left edge of the box, red channel first


def test_annotated_photo_has_the_boxes_or_a_no_face_banner():
    image = np.full((480, 640, 3), 128, np.uint8)
    faces = [face_result(Face((200, 200, 100, 120), 0.9), FEMALE)]
    assert np.array_equal(annotate_photo(image, faces), annotate(image, faces))
    empty = annotate_photo(image, [])
    assert np.all(image == 128) and tuple(empty[1, 1]) == BANNER_RGB and np.all(empty[400:] == 128)


def test_label_stays_inside_for_faces_at_the_edges():
    image = np.full((300, 400, 3), 128, np.uint8)
    faces = [face_result(Face((0, 0, 60, 60), 0.9), FEMALE), face_result(Face((370, 250, 30, 50), 0.9), MALE)]
    annotated = annotate(image, faces)
    # Above the bottom-right box, pushed left just enough for the whole label to fit.
    label_w, label_h = text_box_size(image, face_label(MALE))
    male = np.all(annotated == BOX_COLOURS_RGB["male"], axis=2)
    rows, cols = np.nonzero(male[:250])
    assert (cols.min(), cols.max()) == (399 - label_w, 399)
    assert rows.min() == 250 - label_h
    # No room above a box at the top edge: the label goes inside it, at the top.
    label_w, label_h = text_box_size(image, face_label(FEMALE))
    female = np.all(annotated == BOX_COLOURS_RGB["female"], axis=2)
    assert female[:label_h, :label_w].mean() > 0.5


def test_text_grows_with_the_image():
    small, large = np.zeros((480, 640, 3), np.uint8), np.zeros((3000, 4000, 3), np.uint8)
    assert text_style(large)[0] > 3 * text_style(small)[0]
    assert text_style(large)[1] > text_style(small)[1]


def test_fps_banner_is_drawn_in_place():
    image = np.full((240, 320, 3), 128, np.uint8)
    draw_fps(image, 24.96)
    banner_w, banner_h = text_box_size(image, "25.0 FPS")
    assert np.all(image[:banner_h, :banner_w] == 0, axis=2).mean() > 0.5  # black banner, top-left
    assert (image[banner_h + 1:] == 128).all() and (image[:, banner_w + 1:] == 128).all()
