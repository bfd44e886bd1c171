"""FaceTracks: a face keeps its track while its box overlaps, and its labels are smoothed over the track."""
import pytest

from facekit.vision.tracking import FaceTracks, box_iou


def entry(x, age, female, white=0.9):
    """A face entry as FaceAnalyzer gives it (only the fields tracking reads and rewrites)."""
    races = {"White": white, "Black": 1 - white, "Asian": 0.0, "Indian": 0.0, "Others": 0.0}
    return {"box": {"x": x, "y": 10, "width": 100, "height": 100}, "age": age,
            "probabilities": {"gender": {"male": 1 - female, "female": female}, "race": races,
                              "age_group": {}}}


def test_box_iou():
    a = {"x": 0, "y": 0, "width": 10, "height": 10}
    assert box_iou(a, a) == 1 and box_iou(a, {**a, "x": 20}) == 0
    assert box_iou(a, {**a, "x": 5}) == pytest.approx(50 / 150)


def test_a_flickering_face_keeps_its_track_and_its_label():
    tracks = FaceTracks(smoothing=0.8)
    [first] = tracks.update([entry(0, 30.0, female=0.9)])
    [second] = tracks.update([entry(8, 40.0, female=0.3)])  # one frame says male
    assert second["track"] == first["track"]
    assert second["gender"] == "female" and second["gender_probability"] == pytest.approx(0.78)
    assert second["age"] == pytest.approx(32.0) and second["race"] == "White"
    assert second["probabilities"]["gender"]["male"] == pytest.approx(0.22)


def test_far_or_new_faces_start_new_tracks_and_unseen_ones_end():
    tracks = FaceTracks(smoothing=0.5)
    a, b = tracks.update([entry(0, 30.0, 0.9), entry(300, 60.0, 0.1)])
    assert a["track"] != b["track"]
    [moved] = tracks.update([entry(310, 50.0, 0.1)])  # only b, still overlapping
    assert moved["track"] == b["track"] and moved["age"] == pytest.approx(55.0)
    [back] = tracks.update([entry(0, 30.0, 0.9)])  # a's track ended in the frame without it
    assert back["track"] not in (a["track"], b["track"]) and back["age"] == 30.0


def test_no_smoothing_keeps_each_frames_values():
    tracks = FaceTracks(smoothing=0.0)
    tracks.update([entry(0, 30.0, 0.9)])
    [face] = tracks.update([entry(0, 50.0, 0.2)])
    assert (face["age"], face["gender"]) == (50.0, "male")
    with pytest.raises(ValueError):
        FaceTracks(smoothing=1.0)
