"""Faces followed from frame to frame by box overlap, their age and gender smoothed so that labels do not flicker.

``FaceTracks.update(faces)`` takes one frame's faces (``FaceAnalyzer.analyze``: ``facekit.infer.results.FaceResult``)
and returns them with ``track`` (an id that stays with a face while its box keeps overlapping) and with age, gender
and race probabilities averaged over the frames of its track (an exponential moving average: a new frame counts
``1 - smoothing``), on the unrounded values: a face's JSON entry (``to_dict()``) rounds them once. The labels
(``gender``, ``race``) follow from the smoothed probabilities.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import Field, replace
from itertools import count
from typing import Any, ClassVar, Protocol, TypedDict, TypeVar

from facekit.core.errors import InputError
from facekit.vision.images import Box

MIN_IOU = 0.3  # a face continues the track whose last box it overlaps most, by at least this much


class TrackedPrediction(Protocol):
    """What is smoothed of a face's prediction (a dataclass: ``facekit.infer.results.Prediction``)."""

    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]  # a dataclass, for dataclasses.replace

    @property
    def age(self) -> float: ...

    @property
    def gender_probabilities(self) -> Mapping[str, float]: ...

    @property
    def race_probabilities(self) -> Mapping[str, float]: ...


class TrackedFace(Protocol):
    """What a tracked face has (a dataclass with a ``track`` field: ``facekit.infer.results.FaceResult``)."""

    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]

    @property
    def box(self) -> Box: ...

    @property
    def prediction(self) -> TrackedPrediction: ...


TrackedFaceT = TypeVar("TrackedFaceT", bound=TrackedFace)


class _Track(TypedDict):
    box: Box
    age: float
    gender: dict[str, float]
    race: dict[str, float]


def box_iou(a: Box, b: Box) -> float:
    """Intersection over union of two (x, y, width, height) boxes."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    width = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    height = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = width * height
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def _blend(old: Mapping[str, float], new: Mapping[str, float], keep: float) -> dict[str, float]:
    """``keep`` of ``old`` and the rest of ``new``, per name."""
    return {k: keep * old[k] + (1 - keep) * float(v) for k, v in new.items()}


class FaceTracks:
    def __init__(self, smoothing: float = 0.8) -> None:
        if not 0 <= smoothing < 1:
            raise InputError(f"smoothing must be in [0, 1), not {smoothing}")
        self.smoothing = smoothing
        self._tracks: dict[int, _Track] = {}
        self._ids = count(1)

    def update(self, faces: Sequence[TrackedFaceT]) -> list[TrackedFaceT]:
        """One frame's faces -> the same entries, smoothed over their tracks, each with its ``track`` id.
        Tracks not seen in this frame end."""
        pairs = sorted(((box_iou(track["box"], face.box), track_id, index)
                        for track_id, track in self._tracks.items() for index, face in enumerate(faces)),
                       reverse=True)
        matched: dict[int, int] = {}  # face index -> track id
        used: set[int] = set()
        for overlap, track_id, index in pairs:  # greedy: the best overlaps first
            if overlap < MIN_IOU:
                break
            if index not in matched and track_id not in used:
                matched[index] = track_id
                used.add(track_id)
        tracks: dict[int, _Track] = {}
        smoothed: list[TrackedFaceT] = []
        keep = self.smoothing
        for index, face in enumerate(faces):
            prediction = face.prediction
            state: _Track = {"box": face.box, "age": prediction.age, "gender": dict(prediction.gender_probabilities),
                             "race": dict(prediction.race_probabilities)}
            known = matched.get(index)
            track_id = next(self._ids) if known is None else known
            if known is not None:
                old = self._tracks[known]
                state["age"] = keep * old["age"] + (1 - keep) * prediction.age
                state["gender"] = _blend(old["gender"], state["gender"], keep)
                state["race"] = _blend(old["race"], state["race"], keep)
            tracks[track_id] = state
            smoothed_prediction = replace(prediction, age=state["age"], gender_probabilities=state["gender"],
                                          race_probabilities=state["race"])
            smoothed.append(replace(face, prediction=smoothed_prediction, track=track_id))
        self._tracks = tracks
        return smoothed
