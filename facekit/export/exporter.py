"""A trained ``.keras`` model -> a ``.tflite`` (LiteRT) or ``.onnx`` (ONNX Runtime) file that runs without
TensorFlow, with its metadata beside it (``facekit.infer.model_metadata``).

The export is run on real faces and compared with Keras before anything is written: the largest difference of any
output probability is reported, and an export over ``tolerance`` is refused. ``quantize="int8"`` (ONNX only) then
quantises the checked float graph (``facekit.export.quantize``) and measures its error on other real faces. Existing
files are replaced only with ``overwrite=True``. Needs TensorFlow (and tf2onnx and onnx for ONNX): it is part of the
training install.
"""
import math
import os
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import tensorflow as tf

from facekit.backbones.model import get_backbone, load_model
from facekit.core import paths
from facekit.core.errors import FaceKitError, InputError
from facekit.core.labels import race_classes
from facekit.export.quantize import (
    CALIBRATION_FACES,
    LIMITS,
    MEASURED_FACES,
    QUANTIZATION_FORMAT,
    QUANTIZATIONS,
    check_error,
    quantization_error,
    quantize_onnx,
)
from facekit.infer.model_metadata import FORMATS, HEADS, describe, metadata_path, write_metadata
from facekit.infer.predictors import EXPORTED, KerasPredictor, OnnxPredictor
from facekit.vision.images import find_images, read_image

TOLERANCE = 1e-4  # largest accepted difference of any probability from Keras (float32 graphs differ by ~1e-6)
CHECK_FACES = 32


def default_check_faces() -> Path:
    """Where the real faces for the check come from by default: UTKFace in the shared data (``paths.shared_dir``)."""
    return paths.shared_dir() / "data" / "utkface" / "UTKFace"


def face_files(folder: str | Path) -> list[Path]:
    """The image files of a folder of face crops, in a fixed shuffled order: not by name, since UTKFace's names start
    with the age (its first files by name are all 100 to 116 and 10 to 14 years old)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FaceKitError(f"no folder of real faces to check the export against at {folder}: "
                           "pass --check-faces FOLDER (face crops, such as UTKFace's)")
    images = find_images([folder])
    return [images[index] for index in np.random.default_rng(0).permutation(len(images))]


def read_faces(files: Sequence[str | Path], size: int) -> np.ndarray:
    """Face crops read and resized to ``size``: uint8 (N, size, size, 3), the faces an export is checked on."""
    return np.stack([cv2.resize(read_image(path), (size, size), interpolation=cv2.INTER_AREA) for path in files])


def _write(model: Any, fmt: str, path: Path, size: int) -> None:
    """Exports ``model``; FaceKitError with the converter's reason when an op or layer cannot be converted."""
    try:
        _convert(model, fmt, path, size)
    except Exception as error:  # LiteRT's ConverterError, tf2onnx's and TensorFlow's many types
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        reason = next((line for line in lines if "error" in line.lower()), lines[0] if lines else "")
        raise FaceKitError(f"cannot convert the model to {fmt}: {type(error).__name__}: {reason[:300]}") from error


def _convert(model: Any, fmt: str, path: Path, size: int) -> None:
    if fmt == "litert":
        model.export(str(path), format="litert", verbose=False)
    else:  # a freshly loaded model has never been called: ONNX export needs the input signature
        with warnings.catch_warnings():  # tf2onnx 1.17 probes np.object, which NumPy 2 warns about
            warnings.simplefilter("ignore", FutureWarning)
            model.export(str(path), format="onnx", verbose=False,
                         input_signature=[tf.TensorSpec((None, size, size, 3), tf.float32, name="image")])


def _match_outputs(expected: Mapping[str, np.ndarray], outputs: Sequence[np.ndarray]
                   ) -> tuple[list[str], float]:
    """Which Keras head each runtime output is (by shape, then by value) and the largest difference."""
    order: list[str] = []
    worst = 0.0
    for output in outputs:
        candidates = [head for head in HEADS if head not in order and expected[head].shape == output.shape]
        if not candidates:
            raise FaceKitError(f"the exported model gives an output of shape {output.shape} that no head has")
        head = min(candidates, key=lambda name: np.abs(expected[name] - output).max())
        order.append(head)
        worst = max(worst, float(np.abs(expected[head] - output).max()))
    return order, worst


def _quantized(staged: Path, keras: KerasPredictor, metadata: dict[str, Any], files: Sequence[Path],
               accept_error: bool) -> dict[str, Any]:
    """The checked float .onnx at ``staged`` replaced by its int8 quantisation, calibrated on real faces -> the
    metadata's ``quantization``: how, and its error against Keras on the first faces of ``files`` (from
    ``face_files``), which the calibration does not use."""
    faces = read_faces(files[:MEASURED_FACES + CALIBRATION_FACES], metadata["input"]["size"])
    measured, calibration = faces[:MEASURED_FACES], faces[MEASURED_FACES:]
    quantized = staged.with_name(".int8" + staged.name)
    quantize_onnx(staged, quantized, calibration)
    os.replace(quantized, staged)
    runtime = OnnxPredictor(staged, metadata=metadata)
    error = quantization_error(keras.probabilities(measured), runtime.probabilities(measured), runtime.age_bins)
    over_limits = check_error(error, len(measured), accept_error)
    return {"type": "int8", "method": f"onnxruntime quantize_static, {QUANTIZATION_FORMAT}, activations uint8, "
                                      "weights int8 per channel, reduce_range",
            "calibration_faces": len(calibration), "faces": len(measured), **error, "limits": LIMITS,
            "over_limits": over_limits}


def export_model(model_path: str | Path, fmt: str, output: str | Path | None = None, overwrite: bool = False,
                 faces_folder: str | Path | None = None, tolerance: float = TOLERANCE, quantize: str | None = None,
                 accept_error: bool = False) -> tuple[Path, float]:
    """Exports ``model_path`` (.keras) as ``fmt`` (``litert`` or ``onnx``) to ``output`` (default: beside it, with
    the format's suffix), after checking it against Keras on real faces -> (output path, largest difference).
    ``quantize="int8"`` (ONNX only; default output MODEL.int8.onnx): quantised, its error measured and stored in
    the metadata as ``quantization``; refused over ``facekit.export.quantize.LIMITS`` unless ``accept_error``."""
    if fmt not in FORMATS:
        raise FaceKitError(f"unknown export format '{fmt}'; choose one of: {', '.join(FORMATS)}")
    if quantize is not None and quantize not in QUANTIZATIONS:
        raise FaceKitError(f"unknown quantisation '{quantize}'; choose one of: {', '.join(QUANTIZATIONS)}")
    if quantize and fmt != "onnx":
        raise FaceKitError(f"--quantize {quantize} is offered for --format onnx only: LiteRT's int8 was measured no "
                           "faster on this CPU")
    model_path = Path(model_path)
    suffix = f".{quantize}{FORMATS[fmt]}" if quantize else FORMATS[fmt]
    output = Path(output) if output is not None else model_path.with_suffix(suffix)
    if output.suffix != FORMATS[fmt]:
        raise FaceKitError(f"a {fmt} model is written as {FORMATS[fmt]}, not {output.name}")
    if not math.isfinite(tolerance) or tolerance < 0:
        raise InputError(f"the tolerance must be a finite number, 0 or more, not {tolerance}")
    for path in (output, metadata_path(output)):
        if path.is_dir():
            raise FaceKitError(f"{path} is a folder; choose another --output (a file name ending in "
                               f"{FORMATS[fmt]})")
        if path.exists() and not overwrite:
            raise FaceKitError(f"{path} already exists; pass --overwrite or choose another --output")
    faces_folder = faces_folder or default_check_faces()
    files = face_files(faces_folder)  # checked before the slow part
    if quantize and len(files) < MEASURED_FACES + CALIBRATION_FACES:
        raise FaceKitError(f"int8 quantisation needs {MEASURED_FACES + CALIBRATION_FACES} real faces in "
                           f"{faces_folder} ({MEASURED_FACES} to measure its error, {CALIBRATION_FACES} to calibrate "
                           f"it), not {len(files)}")
    model = load_model(model_path)
    size = model.input_shape[1]
    faces = read_faces(files[:CHECK_FACES], size)
    keras = KerasPredictor(model)
    expected = keras.probabilities(faces)
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=output.parent, prefix=".export-") as folder:
        staged = Path(folder) / output.name
        _write(model, fmt, staged, size)
        model_description = partial(describe, model_path, fmt, get_backbone(model).name, size,
                                    model.get_layer("normalization").mode, model.get_layer("age").age_bins,
                                    races=race_classes(model.get_layer("race").units))
        # run_batch gives the runtime's outputs in its own order, whatever the metadata says: matched to heads here
        runtime = EXPORTED[output.suffix](staged, metadata=model_description(HEADS))
        order, worst = _match_outputs(expected, runtime.run_batch(faces.astype(np.float32)))
        if worst > tolerance:
            raise FaceKitError(f"the {fmt} export differs from Keras by up to {worst:.2e} on {len(faces)} real faces "
                               f"(tolerance {tolerance:.0e}); nothing written")
        check = {"faces": len(faces), "max_abs_difference": worst, "tolerance": tolerance,
                 **({"graph": "float, before the int8 quantisation"} if quantize else {})}
        metadata = {**model_description(order), "check": check}
        if quantize:
            metadata["quantization"] = _quantized(staged, keras, metadata, files, accept_error)
        write_metadata(staged, metadata)
        # The model first, then its metadata; an older metadata file goes first, so that an interruption between
        # the two leaves a model without metadata (refused with a clear message), never one with another's.
        metadata_path(output).unlink(missing_ok=True)
        os.replace(staged, output)
        os.replace(metadata_path(staged), metadata_path(output))
    return output, worst
