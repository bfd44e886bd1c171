"""What an analyzer is made of, as data: built once (from the command line by ``facekit.apps.cli``, or by hand),
passed to the library (``FaceAnalyzer.from_options``), compared (a cluster worker keeps one analyzer per ``key()``)
and handed to worker processes as JSON (``to_json`` / ``from_json``). A new option is a field here: every use of
the options follows."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from facekit.vision.detectors import DEFAULT_DETECTOR


@dataclass(frozen=True)
class AnalyzerOptions:
    """The demos' and the server's model, detector and crop options (their command-line names: ``--model``,
    ``--detector``, ``--detector-model``, ``--min-score``, ``--min-face``, ``--crop-scale``, ``--tta``,
    ``--ensemble``, ``--ensemble-weights``)."""

    model: tuple[str, ...] | None = None  # model files, several for an ensemble; None: the shipped default
    detector: str = DEFAULT_DETECTOR
    detector_model: str | None = None
    min_score: float | None = None  # None: the detector's own threshold
    min_face: int | None = None  # pixels high; None: the detector's default
    crop_scale: float = 1.0
    tta: str = "none"
    ensemble: str = "mean"
    ensemble_weights: tuple[str, ...] | None = None  # as --ensemble-weights takes them (facekit.infer.ensemble)

    def __post_init__(self) -> None:  # paths and lists as the command line gives them: stored as str and tuples
        for name in ("model", "ensemble_weights"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, tuple):
                values = [value] if isinstance(value, (str, Path)) else value
                object.__setattr__(self, name, tuple(str(v) for v in values))
        if self.detector_model is not None:
            object.__setattr__(self, "detector_model", str(self.detector_model))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def key(self) -> str:
        """Equal for options that build the same analyzer: every field, in one string."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> AnalyzerOptions:
        known = {field.name for field in fields(cls)}
        return cls(**{name: value for name, value in values.items() if name in known})

    @classmethod
    def from_json(cls, text: str) -> AnalyzerOptions:
        return cls.from_dict(json.loads(text))
