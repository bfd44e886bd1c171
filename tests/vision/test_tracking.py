"""FaceTracks: a face keeps its track while its box overlaps, and its labels are smoothed over the track."""
import pytest

from facekit.infer.results import FaceResult, Prediction
from facekit.vision.tracking import FaceTracks, box_iou


def entry(x, age, female, white=0.9):
    """A face as FaceAnalyzer gives it (only the fields tracking reads and rewrites matter)."""
    races = {"White": white, "Black": 1 - white, "Asian": 0.0, "Indian": 0.0, "Others": 0.0}
    prediction = Prediction(age, 3.0, {"male": 1 - female, "female": female}, races, {})
    return FaceResult((x, 10, 100, 100), 0.9, None, prediction)


def smoothed(face):
    """What a user reads: the face's JSON entry."""
    return face.to_dict()


def test_box_iou():
    a = (0, 0, 10, 10)
    assert box_iou(a, a) == 1 and box_iou(a, (20, 0, 10, 10)) == 0
    assert box_iou(a, (5, 0, 10, 10)) == pytest.approx(50 / 150)


def test_smoothing_works_on_unrounded_values_and_the_entry_rounds_them_once():
    tracks = FaceTracks(smoothing=0.5)
    tracks.update([entry(0, 30.04, female=0.9)])
    [face] = tracks.update([entry(0, 30.04, female=0.9)])
    assert face.age == pytest.approx(30.04) and smoothed(face)["age"] == 30.0


def test_a_flickering_face_keeps_its_track_and_its_label():
    tracks = FaceTracks(smoothing=0.8)
    [first] = tracks.update([entry(0, 30.0, female=0.9)])
    [second] = tracks.update([entry(8, 40.0, female=0.3)])  # one frame says male
    assert smoothed(second)["track"] == smoothed(first)["track"]
    assert smoothed(second)["gender"] == "female" and smoothed(second)["gender_probability"] == pytest.approx(0.78)
    assert smoothed(second)["age"] == pytest.approx(32.0) and smoothed(second)["race"] == "White"
    assert smoothed(second)["probabilities"]["gender"]["male"] == pytest.approx(0.22)


def test_far_or_new_faces_start_new_tracks_and_unseen_ones_end():
    tracks = FaceTracks(smoothing=0.5)
    a, b = tracks.update([entry(0, 30.0, 0.9), entry(300, 60.0, 0.1)])
    assert smoothed(a)["track"] != smoothed(b)["track"]
    [moved] = tracks.update([entry(310, 50.0, 0.1)])  # only b, still overlapping
    assert smoothed(moved)["track"] == smoothed(b)["track"] and smoothed(moved)["age"] == pytest.approx(55.0)
    [back] = tracks.update([entry(0, 30.0, 0.9)])  # a's track ended in the frame without it
    assert smoothed(back)["track"] not in (smoothed(a)["track"], smoothed(b)["track"]) and smoothed(back)["age"] == 30.0


def test_no_smoothing_keeps_each_frames_values():
    tracks = FaceTracks(smoothing=0.0)
    tracks.update([entry(0, 30.0, 0.9)])
    [face] = tracks.update([entry(0, 50.0, 0.2)])
    assert (smoothed(face)["age"], smoothed(face)["gender"]) == (50.0, "male")
    with pytest.raises(ValueError):
        FaceTracks(smoothing=1.0)
