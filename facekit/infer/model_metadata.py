"""What an exported model is, in a small JSON file beside it (``model.tflite`` -> ``model.tflite.json``): written by
``facekit.export.exporter``, read back by ``facekit.infer.predictors``. No TensorFlow here.

The exported graph carries its own preprocessing (the model's first layer, ``InputNormalization``): it takes RGB
crops of ``input_size`` pixels with values 0-255 as float32. The JSON holds what turns its three outputs into the
project's results (``facekit.infer.results``): the age bins, the label names, and which runtime output is which head.
``facekit.export.exporter`` adds ``check`` (the float graph against Keras on real faces) and, for an int8 file only,
``quantization``: how it was quantised and its error measured against Keras (``facekit.export.quantize``). The loader
needs neither: files written before ``quantization`` existed read as they did.
"""
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from facekit.core.errors import ModelError
from facekit.core.labels import GENDERS, RACES, UTKFACE_RACES, AgeBins, age_group_names

FORMATS = {"litert": ".tflite", "onnx": ".onnx"}  # export format -> file suffix
HEADS = ("age", "gender", "race")


def metadata_path(model_path: str | Path) -> Path:
    path = Path(model_path)
    return path.with_name(path.name + ".json")


def describe(source: str | Path, fmt: str, backbone: str, input_size: int, normalization: str, age_bins: AgeBins,
             outputs: Iterable[str], races: Iterable[str] = RACES) -> dict[str, Any]:
    """The metadata of an export (less its ``check``, which ``facekit.export.exporter`` adds once the export passed it):
    ``outputs``, the head of each runtime output in order; ``races``, the race head's classes."""
    return {
        "format": fmt, "source": Path(source).name, "backbone": backbone,
        "input": {"size": input_size, "channels": "RGB", "range": "0-255", "dtype": "float32"},
        "normalization": normalization,  # applied inside the exported model
        "age_bins": age_bins.to_config(),
        "labels": {"gender": list(GENDERS), "race": list(races), "age_group": age_group_names()},
        "outputs": list(outputs),
    }


def write_metadata(model_path: str | Path, metadata: dict[str, Any]) -> None:
    metadata_path(model_path).write_text(json.dumps(metadata, indent=2) + "\n")


def read_metadata(model_path: str | Path) -> tuple[dict[str, Any], AgeBins]:
    """The metadata beside an exported model, checked against this project's labels -> (metadata, AgeBins)."""
    path = metadata_path(model_path)
    if not path.is_file():
        raise ModelError(f"{model_path} has no metadata file {path.name} beside it: export it with "
                           "face.py --export, which writes both")
    try:
        metadata = json.loads(path.read_text())
    except ValueError as error:
        raise ModelError(f"{path} is not JSON: {error}") from error
    return checked(metadata, path)


def checked(metadata: Any, path: str | Path) -> tuple[dict[str, Any], AgeBins]:
    """``metadata`` checked against this project's labels -> (metadata with ``input_size``, AgeBins)."""
    try:
        age_bins = AgeBins(**metadata["age_bins"])
        labels, outputs, size = metadata["labels"], metadata["outputs"], int(metadata["input"]["size"])
    except (ValueError, KeyError, TypeError) as error:
        raise ModelError(f"{path} is not the metadata of an exported model: "
                           f"{error.__class__.__name__}: {error}") from error
    # Race: FairFace's seven classes, or UTKFace's five for a model exported before them.
    known_races = tuple(labels["race"]) in (RACES, UTKFACE_RACES)
    if tuple(labels["gender"]) != GENDERS or not known_races or sorted(outputs) != sorted(HEADS):
        raise ModelError(f"{path} names other labels or outputs than this version of facekit knows")
    return {**metadata, "input_size": size}, age_bins
