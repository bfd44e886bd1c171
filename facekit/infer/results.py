"""The output schema, built in one place: a face's prediction from the model's probabilities (``Prediction``), a
detected face with it (``FaceResult``), and their JSON entries (``to_dict()``, the only place values are rounded:
the video's smoothing, facekit.vision.tracking, works on the unrounded ones).

The JSON's shape is declared here too, as TypedDicts: a face's entry (``FaceEntry``) and a photo's (``PhotoEntry``),
each field with its docstring under it. Type checkers hold ``to_dict()`` and ``photo_entry`` to them, and the web
service declares its answer with them (``/docs`` shows each field's docstring), so a new output field is a change to
this module alone: its key and docstring in the TypedDict, its value in the ``to_dict()`` or ``photo_entry`` that
writes it.
"""
# No ``from __future__ import annotations`` here: the TypedDicts' NotRequired keys must stay visible at run time
# (__optional_keys__, which typing reads from the annotations as written).
import ast
import functools
import inspect
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, NotRequired

import numpy as np
from numpy.typing import NDArray

from facekit.core.labels import ADIENCE_GROUPS, GENDERS, AgeBins, age_group, age_group_names, race_classes
from facekit.vision.detectors.base import Face

try:  # pydantic (the web service's schema) takes TypedDicts from typing_extensions before Python 3.12
    from typing_extensions import TypedDict
except ImportError:  # pragma: no cover  # no typing_extensions, no pydantic either: typing's serves
    from typing import TypedDict


class BoxEntry(TypedDict):
    """Where the face is, in the pixels of the photo's file."""

    x: int
    """The left edge (pixels from the photo's left)."""
    y: int
    """The top edge (pixels from the photo's top)."""
    width: int
    """The box's width, in pixels."""
    height: int
    """The box's height, in pixels."""


class ProbabilitiesEntry(TypedDict):
    """The probability of each class, to 4 places."""

    gender: dict[str, float]
    """Each gender's: female, male."""
    race: dict[str, float]
    """Each of the model's race classes': FairFace's seven, or UTKFace's five for an older model."""
    age_group: dict[str, float]
    """Each of Adience's eight age groups' (0-2 to 60-100), summed over the model's age bins."""


class PredictionEntry(TypedDict):
    """The prediction's fields of a face's entry."""

    age: float
    """Years, to 0.1: the expectation over the model's age bins."""
    age_std: float
    """Years, to 0.1: the standard deviation of the age distribution (how sure the model is)."""
    gender: str
    """The most probable gender: female or male."""
    gender_probability: float
    """That gender's probability, to 4 places."""
    race: str
    """The most probable race class."""
    race_probability: float
    """That class's probability, to 4 places."""
    probabilities: ProbabilitiesEntry
    """Every class's probability."""


class FaceEntry(PredictionEntry):
    """A face's JSON entry (face_demo.py --json, the web service): the prediction's fields and where the face is."""

    box: BoxEntry
    """The face's box."""
    score: float
    """The detector's confidence, to 4 places."""
    landmarks: list[list[float]] | None
    """Five (x, y) points to 0.1 pixel: the subject's right eye, left eye, nose, right and left mouth corners; null
    from a detector that gives none."""
    track: NotRequired[int]
    """The face's track in a video, the same number from frame to frame; only when a video's faces are followed."""


class PhotoEntry(TypedDict):
    """A photo's JSON (face_demo.py --json, the web service)."""

    width: int
    """The file's width in pixels, upright (after its EXIF orientation)."""
    height: int
    """The file's height in pixels, upright."""
    detection_scale: NotRequired[float]
    """How much the photo was shrunk for detection; only when it was (boxes are in the file's pixels all the
    same)."""
    faces: list[FaceEntry]
    """Its faces, largest first."""


@functools.cache  # read when a schema is first built (the web service's), not at import: the demos never need it
def field_docstrings(entry: type) -> dict[str, str]:
    """The docstring under each field of a TypedDict, and of the TypedDicts it extends; none where its source cannot
    be read."""
    docs: dict[str, str] = {}
    for base in getattr(entry, "__orig_bases__", ()):
        if isinstance(base, type) and hasattr(base, "__required_keys__"):  # a TypedDict this one extends
            docs.update(field_docstrings(base))
    try:
        body = ast.parse(textwrap.dedent(inspect.getsource(entry))).body[0]
    except (OSError, TypeError):
        return docs
    statements = body.body if isinstance(body, ast.ClassDef) else []
    for field, text in zip(statements, statements[1:]):
        if (isinstance(field, ast.AnnAssign) and isinstance(field.target, ast.Name) and isinstance(text, ast.Expr)
                and isinstance(text.value, ast.Constant) and isinstance(text.value.value, str)):
            docs[field.target.id] = inspect.cleandoc(text.value.value)
    return docs


def _describe_properties(schema: dict[str, Any], entry: type) -> None:
    docs = field_docstrings(entry)
    for name, prop in schema.get("properties", {}).items():
        if name in docs:
            prop.setdefault("description", docs[name])


def documented_fields(*entries: type) -> None:
    """Lets the web service's schema (pydantic, /docs) describe each field of ``entries``, inherited ones too, by the
    docstring under it: pydantic calls the config's ``json_schema_extra`` with the class's schema and the class. A
    plain dict, so that nothing here imports pydantic."""
    for entry in entries:
        entry.__pydantic_config__ = {"json_schema_extra": _describe_properties}  # type: ignore[attr-defined]


documented_fields(BoxEntry, ProbabilitiesEntry, PredictionEntry, FaceEntry, PhotoEntry)


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

    def to_dict(self) -> PredictionEntry:
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

    def to_dict(self) -> FaceEntry:
        """The face's JSON entry (face_demo.py --json, the web service): box, score, landmarks, the prediction's
        fields, and its track when it has one."""
        x, y, width, height = self.box
        landmarks = None if self.landmarks is None else [[round(px, 1), round(py, 1)] for px, py in self.landmarks]
        entry: FaceEntry = {"box": {"x": x, "y": y, "width": width, "height": height},
                            "score": round(float(self.score), 4), "landmarks": landmarks, **self.prediction.to_dict()}
        if self.track is not None:
            entry["track"] = self.track
        return entry

    def in_file_pixels(self, scale: float) -> "FaceResult":
        """The face with its box and landmarks multiplied by ``scale``: from the pixels of a photo shrunk for
        detection (``images.MAX_SIDE``) to those of its file."""
        if scale == 1:
            return self
        x, y, width, height = (int(round(value * scale)) for value in self.box)
        landmarks = None if self.landmarks is None else tuple((px * scale, py * scale) for px, py in self.landmarks)
        return replace(self, box=(x, y, width, height), landmarks=landmarks)


def predictions_from(probabilities: dict[str, NDArray[Any]], age_bins: AgeBins) -> list[Prediction]:
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


def face_result(face: Face, prediction: Prediction) -> FaceResult:
    """A detected face (``facekit.vision.detectors.base.Face``) and its prediction -> its FaceResult."""
    landmarks = None if face.landmarks is None else tuple(
        (float(x), float(y)) for x, y in np.asarray(face.landmarks, np.float64))
    x, y, width, height = (int(v) for v in face.box)
    return FaceResult((x, y, width, height), float(face.score), landmarks, prediction)


def file_scale(image: NDArray[Any], size: tuple[int, int]) -> float:
    """How much larger the file (``size``: width, height) is than the ``image`` analysed (1 unless it was shrunk)."""
    return size[0] / image.shape[1]


def photo_entry(faces: Sequence[FaceResult], image: NDArray[Any], size: tuple[int, int]) -> PhotoEntry:
    """A photo's JSON (face_demo.py --json, the web service): the file's ``size`` (width, height), how much the
    ``image`` that was analysed was shrunk (``detection_scale``, only when it was: ``images.MAX_SIDE``) and its
    faces' entries in the file's pixels."""
    width, height = size
    scale = file_scale(image, size)
    entries = [face.in_file_pixels(scale).to_dict() for face in faces]
    if scale == 1:
        return {"width": width, "height": height, "faces": entries}
    return {"width": width, "height": height, "detection_scale": round(1 / scale, 4), "faces": entries}
