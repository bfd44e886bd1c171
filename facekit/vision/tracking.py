"""Faces followed from frame to frame by box overlap, their age and gender smoothed so that labels do not flicker.

``FaceTracks.update(faces)`` takes one frame's faces (``FaceAnalyzer.analyze``: ``facekit.infer.results.FaceResult``)
and returns them with ``track`` (an id that stays with a face while its box keeps overlapping) and with age, gender
and race probabilities averaged over the frames of its track (an exponential moving average: a new frame counts
``1 - smoothing``), on the unrounded values: a face's JSON entry (``to_dict()``) rounds them once. The labels
(``gender``, ``race``) follow from the smoothed probabilities.
"""
from dataclasses import replace
from itertools import count

from facekit.core.errors import InputError

MIN_IOU = 0.3  # a face continues the track whose last box it overlaps most, by at least this much


def box_iou(a, b):
    """Intersection over union of two (x, y, width, height) boxes."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    width = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    height = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = width * height
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


class FaceTracks:
    def __init__(self, smoothing=0.8):
        if not 0 <= smoothing < 1:
            raise InputError(f"smoothing must be in [0, 1), not {smoothing}")
        self.smoothing = smoothing
        self._tracks = {}  # id -> {"box", "age", "gender", "race"}
        self._ids = count(1)

    def update(self, faces):
        """One frame's faces -> the same entries, smoothed over their tracks, each with its ``track`` id.
        Tracks not seen in this frame end."""
        pairs = sorted(((box_iou(track["box"], face.box), track_id, index)
                        for track_id, track in self._tracks.items() for index, face in enumerate(faces)),
                       reverse=True)
        matched, used = {}, set()
        for overlap, track_id, index in pairs:  # greedy: the best overlaps first
            if overlap < MIN_IOU:
                break
            if index not in matched and track_id not in used:
                matched[index] = track_id
                used.add(track_id)
        tracks, smoothed = {}, []
        keep = self.smoothing
        for index, face in enumerate(faces):
            prediction = face.prediction
            state = {"box": face.box, "age": prediction.age, "gender": dict(prediction.gender_probabilities),
                     "race": dict(prediction.race_probabilities)}
            track_id = matched.get(index)
            if track_id is None:
                track_id = next(self._ids)
            else:
                old = self._tracks[track_id]
                state["age"] = keep * old["age"] + (1 - keep) * prediction.age
                for name in ("gender", "race"):
                    state[name] = {k: keep * old[name][k] + (1 - keep) * float(v)
                                   for k, v in state[name].items()}
            tracks[track_id] = state
            smoothed_prediction = replace(prediction, age=state["age"], gender_probabilities=state["gender"],
                                          race_probabilities=state["race"])
            smoothed.append(replace(face, prediction=smoothed_prediction, track=track_id))
        self._tracks = tracks
        return smoothed
