"""What a model is given to predict: face crops, checked before they reach it, each problem told in one line."""
from collections.abc import Sequence
from typing import Any, TypeAlias

import numpy as np
from numpy.typing import NDArray

from facekit.core.errors import InputError, first_few

Crop: TypeAlias = NDArray[Any]  # one face crop (H, W, 3), RGB values 0-255 of any numeric type
# Face crops as a predictor takes them: an array (N, H, W, 3) or one crop (H, W, 3), or a sequence of crops of one size
Crops: TypeAlias = NDArray[Any] | Sequence[Crop]
Batch: TypeAlias = NDArray[np.float32]  # checked crops as a model takes them: float32 (N, H, W, 3), RGB 0-255


def face_batch(faces: Crops) -> Batch:
    """Face crops: an array (N, H, W, 3) or one (H, W, 3), or a list of (H, W, 3) crops of one size, with RGB values
    0-255 (any numeric type) -> float32 (N, H, W, 3). FaceKitError for anything else, rather than a wrong answer:
    floats in 0..1, which would silently give another person, other value ranges, NaN, other shapes or channel
    counts, crops of different sizes, empty crops."""
    if isinstance(faces, (list, tuple)):
        shapes = sorted({np.shape(face) for face in faces})
        if len(shapes) > 1:
            raise InputError(f"face crops of different shapes ({first_few(shapes, count=3)}): resize them to one size "
                             "first")
    faces = np.asarray(faces)
    if faces.dtype.kind not in "uif":
        raise InputError(f"face crops must be arrays of numbers, not {faces.dtype}")
    if faces.ndim not in (3, 4) or faces.shape[-1] != 3:
        hint = "; drop the alpha channel (RGBA -> RGB)" if faces.ndim in (3, 4) and faces.shape[-1] == 4 else ""
        raise InputError(f"face crops must be RGB, of shape (height, width, 3) or (N, height, width, 3), "
                           f"not {faces.shape}{hint}")
    if faces.ndim == 3:
        faces = faces[None]
    if faces.shape[1] == 0 or faces.shape[2] == 0:
        raise InputError(f"empty face crop ({faces.shape[1]}x{faces.shape[2]} pixels)")
    values = faces.astype(np.float32)
    if not np.isfinite(values).all():
        raise InputError("face crops contain NaN or infinite values")
    low, high = float(values.min()), float(values.max())
    if low < 0 or high > 255:
        raise InputError(f"face crops must hold RGB values 0-255, not {low:g} to {high:g}")
    if faces.dtype.kind == "f" and 0 < high <= 1:
        raise InputError(f"face crops look scaled to 0..1 (largest value {high:g}); the model takes RGB values "
                           "0-255: multiply them by 255")
    return values
