"""The output schema, built in one place: a face's prediction from the model's probabilities (``Prediction``), a
detected face with it (``FaceResult``), and their JSON entries (``to_dict()``, the only place values are rounded:
the video's smoothing, facekit.vision.tracking, works on the unrounded ones)."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from facekit.core.labels import ADIENCE_GROUPS, GENDERS, AgeBins, age_group, age_group_names, race_classes


def _most_probable(probabilities: dict[str, float]) -> str:
    return max(probabilities, key=lambda name: probabilities[name])  # the first of equals, as argmax


def _rounded(probabilities: dict[str, float]) -> dict[str, float]:
    return {name: round(float(p), 4) for name, p in probabilities.items()}


@dataclass(frozen=True)
class Prediction:
    """One face's age (the expectation over the age bins, and its standard deviation) and the probabilities of each
    gender, race and age group (Adience's), unrounded."""

    age: float
    age_std: float
    gender_probabilities: dict[str, float]
    race_probabilities: dict[str, float]
    age_group_probabilities: dict[str, float]

    @property
    def gender(self) -> str:
        return _most_probable(self.gender_probabilities)

    @property
    def race(self) -> str:
        return _most_probable(self.race_probabilities)

    def to_dict(self) -> dict[str, Any]:
        """The prediction's fields of a face's JSON entry: age and age_std to 0.1 year, probabilities to 4 places."""
        gender, race = self.gender, self.race
        return {
            "age": round(float(self.age), 1),
            "age_std": round(float(self.age_std), 1),
            "gender": gender,
            "gender_probability": round(float(self.gender_probabilities[gender]), 4),
            "race": race,
            "race_probability": round(float(self.race_probabilities[race]), 4),
            "probabilities": {"gender": _rounded(self.gender_probabilities), "race": _rounded(self.race_probabilities),
                              "age_group": _rounded(self.age_group_probabilities)},
        }


@dataclass(frozen=True)
class FaceResult:
    """A detected face and its prediction: ``box`` (x, y, width, height) and ``landmarks`` ((x, y) points, or None)
    in the pixels of the image analysed, the detector's ``score``, and ``track`` when a video's faces are followed
    (facekit.vision.tracking). ``age``, ``gender`` and ``race`` are the prediction's."""

    box: tuple[int, int, int, int]
    score: float
    landmarks: tuple[tuple[float, float], ...] | None
    prediction: Prediction
    track: int | None = None

    @property
    def age(self) -> float:
        return self.prediction.age

    @property
    def gender(self) -> str:
        return self.prediction.gender

    @property
    def race(self) -> str:
        return self.prediction.race

    def to_dict(self) -> dict[str, Any]:
        """The face's JSON entry (face_demo.py --json, the web service): box, score, landmarks, the prediction's
        fields, and its track when it has one."""
        x, y, width, height = self.box
        landmarks = None if self.landmarks is None else [[round(px, 1), round(py, 1)] for px, py in self.landmarks]
        return {"box": {"x": x, "y": y, "width": width, "height": height}, "score": round(float(self.score), 4),
                "landmarks": landmarks, **self.prediction.to_dict(),
                **({"track": self.track} if self.track is not None else {})}

    def in_file_pixels(self, scale: float) -> FaceResult:
        """The face with its box and landmarks multiplied by ``scale``: from the pixels of a photo shrunk for
        detection (``images.MAX_SIDE``) to those of its file."""
        if scale == 1:
            return self
        x, y, width, height = (int(round(value * scale)) for value in self.box)
        landmarks = None if self.landmarks is None else tuple((px * scale, py * scale) for px, py in self.landmarks)
        return replace(self, box=(x, y, width, height), landmarks=landmarks)


def predictions_from(probabilities: dict[str, Any], age_bins: AgeBins) -> list[Prediction]:
    """``{"age", "gender", "race"}`` probability arrays (N rows) -> one Prediction per face. The race classes are
    the model's: FairFace's seven, or UTKFace's five for a model trained before them (by the race output's width)."""
    age_probs, gender_probs, race_probs = (np.asarray(probabilities[name], np.float64)
                                           for name in ("age", "gender", "race"))
    races = race_classes(race_probs.shape[1])
    ages = age_bins.expected_age(age_probs)
    age_std = np.sqrt(np.maximum(age_probs @ age_bins.centres ** 2 - ages ** 2, 0))
    group_of_bin = age_group(age_bins.centres)
    group_probs = np.stack([age_probs[:, group_of_bin == g].sum(axis=1) for g in range(len(ADIENCE_GROUPS))], axis=1)
    return [Prediction(age=float(ages[i]), age_std=float(age_std[i]),
                       gender_probabilities=dict(zip(GENDERS, gender_probs[i].tolist())),
                       race_probabilities=dict(zip(races, race_probs[i].tolist())),
                       age_group_probabilities=dict(zip(age_group_names(), group_probs[i].tolist())))
            for i in range(len(ages))]


def face_result(face: Any, prediction: Prediction) -> FaceResult:
    """A detected face (``facekit.vision.detectors.base.Face``) and its prediction -> its FaceResult."""
    landmarks = None if face.landmarks is None else tuple(
        (float(x), float(y)) for x, y in np.asarray(face.landmarks, np.float64))
    x, y, width, height = (int(v) for v in face.box)
    return FaceResult((x, y, width, height), float(face.score), landmarks, prediction)


def file_scale(image: np.ndarray, size: tuple[int, int]) -> float:
    """How much larger the file (``size``: width, height) is than the ``image`` analysed (1 unless it was shrunk)."""
    return size[0] / image.shape[1]


def photo_entry(faces: list[FaceResult], image: np.ndarray, size: tuple[int, int]) -> dict[str, Any]:
    """A photo's JSON (face_demo.py --json, the web service): the file's ``size`` (width, height), how much the
    ``image`` that was analysed was shrunk (``detection_scale``, only when it was: ``images.MAX_SIDE``) and its
    faces' entries in the file's pixels."""
    width, height = size
    scale = file_scale(image, size)
    return {"width": width, "height": height, **({"detection_scale": round(1 / scale, 4)} if scale != 1 else {}),
            "faces": [face.in_file_pixels(scale).to_dict() for face in faces]}
