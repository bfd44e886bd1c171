"""int8 quantisation of an exported ``.onnx`` model (``face.py --export ... --format onnx --quantize int8``): ONNX
Runtime's static quantisation, calibrated on real faces, and its error against Keras measured on other real faces.

Only this form gave a speed-up on the project's 2-core CPU (issue 11; benchmarks/bench_quantize.py measures it):
activations uint8, weights int8 per output channel, ``reduce_range`` (7-bit weights: no overflow in the CPU's
u8 x s8 multiply-add). The graph is first optimised by ONNX Runtime's pre-processing, which folds the scale and
shift after each convolution (batch normalisation, dlib's affine layers) into it: quantised without it, the default
model's age differed by up to 19 years instead of 4, and ran slower. Its error is not a rounding error, so it is
measured, reported and stored in the metadata, and an error over ``LIMITS`` is refused unless accepted.
"""
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from facekit.core.errors import FaceKitError
from facekit.core.extras import require
from facekit.core.labels import AgeBins

QUANTIZATIONS = ("int8",)
CALIBRATION_FACES = 300
# the first of facekit.export.exporter.face_files (the float check's among them); calibration: the next
MEASURED_FACES = 256
# Generous: the shipped default model measured an age difference of 0.3 years on average, 100 % gender agreement
LIMITS = {"age_mean_abs_difference": 2.0, "gender_agreement": 0.97}
QUANTIZATION_FORMAT = "QOperator"  # as fast as QDQ, and closer to Keras in age on both models measured


class _FaceBatches:
    """Calibration faces for ``quantize_static``, in batches (its CalibrationDataReader interface)."""

    def __init__(self, faces: np.ndarray, input_name: str, batch_size: int = 32) -> None:
        self._batches = iter([{input_name: faces[start:start + batch_size]}
                              for start in range(0, len(faces), batch_size)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


def quantize_onnx(float_path: str | Path, output: str | Path, calibration_faces: np.ndarray,
                  quantization_format: str = QUANTIZATION_FORMAT) -> None:
    """``float_path`` (.onnx) -> ``output``, static int8 (see the module's docstring), its activation ranges
    calibrated on ``calibration_faces`` (float32 crops, 0-255)."""
    onnxruntime = require("onnxruntime", "int8 quantisation")
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process
    input_name = onnxruntime.InferenceSession(str(float_path), providers=["CPUExecutionProvider"]).get_inputs()[0].name
    with tempfile.TemporaryDirectory(dir=Path(output).parent, prefix=".quantize-") as folder:
        optimised = Path(folder) / "optimised.onnx"
        # The symbolic shape inference would need sympy; ONNX's own shape inference suffices for these graphs
        quant_pre_process(str(float_path), str(optimised), skip_symbolic_shape=True)
        quantize_static(str(optimised), str(output), _FaceBatches(calibration_faces.astype(np.float32), input_name),
                        quant_format=QuantFormat[quantization_format], activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, per_channel=True, reduce_range=True)


def quantization_error(expected: Mapping[str, np.ndarray], got: Mapping[str, np.ndarray],
                       age_bins: AgeBins) -> dict[str, float]:
    """How far the quantised model's probabilities (``got``) are from Keras's (``expected``), per face."""
    age_difference = np.abs(age_bins.expected_age(got["age"]) - age_bins.expected_age(expected["age"]))
    return {
        "age_mean_abs_difference": round(float(age_difference.mean()), 4),
        "age_max_abs_difference": round(float(age_difference.max()), 4),
        "gender_agreement": round(float((got["gender"].argmax(1) == expected["gender"].argmax(1)).mean()), 4),
        "race_agreement": round(float((got["race"].argmax(1) == expected["race"].argmax(1)).mean()), 4),
        "max_probability_difference": round(max(float(np.abs(got[head] - expected[head]).max()) for head in expected),
                                            4),
    }


def describe_error(error: Mapping[str, Any], faces: int) -> str:
    """One line for the export's report."""
    return (f"int8 against Keras on {faces} held-out real faces: age differs by {error['age_mean_abs_difference']:.2f} "
            f"years on average (at most {error['age_max_abs_difference']:.2f}), gender agrees on "
            f"{error['gender_agreement']:.1%}, race on {error['race_agreement']:.1%}, largest probability difference "
            f"{error['max_probability_difference']:.3f}")


def check_error(error: Mapping[str, Any], faces: int, accept_error: bool = False) -> bool:
    """Refuses a quantisation whose error is over ``LIMITS`` (unless ``accept_error``) -> whether it is over them."""
    over = error["age_mean_abs_difference"] > LIMITS["age_mean_abs_difference"] \
        or error["gender_agreement"] < LIMITS["gender_agreement"]
    if over and not accept_error:
        raise FaceKitError(f"{describe_error(error, faces)}: over the limits (age "
                           f"{LIMITS['age_mean_abs_difference']:g} years, gender {LIMITS['gender_agreement']:.0%}); "
                           "nothing written (--accept-error writes it)")
    return over
