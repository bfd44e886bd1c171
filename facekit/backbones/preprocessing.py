"""Input normalisations, by name: each backbone declares one (``facekit/backbones/registry.py``), and the model
applies it.

A model made by ``build_model`` takes RGB face crops with values 0-255 and normalises them in its first layer,
:class:`InputNormalization`, so a saved or exported model carries its own preprocessing. ``preprocess_input``
is the same arithmetic for people who call a raw backbone.
"""
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
from keras import ops

from facekit.core.errors import InputError


@dataclass(frozen=True)
class Normalization:
    """``(image[channels] - mean) / scale`` on RGB 0-255 input; ``bgr``: channels reversed first."""

    mean: tuple[float, float, float]  # per channel, in the order after any reversal
    scale: float = 1.0
    bgr: bool = False


NORMALIZATIONS = {
    # keras-vggface's preprocess_input, version=2: BGR minus the VGGFace2 channel means.
    "vggface2": Normalization(mean=(91.4953, 103.8827, 131.0912), bgr=True),
    # dlib's input_rgb_image_sized: RGB minus its channel means, divided by 256.
    "dlib": Normalization(mean=(122.782, 117.001, 104.298), scale=256.0),
}


def normalization(name: str) -> Normalization:
    if name not in NORMALIZATIONS:
        raise InputError(f"unknown input normalisation {name!r}; known: {', '.join(NORMALIZATIONS)}")
    return NORMALIZATIONS[name]


def _normalize(images: Any, spec: Normalization) -> Any:
    x = ops.cast(images, "float32")  # cast first: in uint8, 10 - 91 would wrap around
    if spec.bgr:
        x = ops.flip(x, axis=-1)
    return (x - ops.convert_to_tensor(spec.mean, "float32")) / spec.scale


def preprocess_input(images: Any, normalization_name: str) -> Any:
    """RGB images, uint8 or float 0-255, (N,H,W,3) or (H,W,3) -> float32, normalised as ``normalization_name``.

    NumPy in, NumPy out; a tensor in, a tensor out. A model from ``build_model`` does this itself.
    """
    x = _normalize(images, normalization(normalization_name))
    return np.asarray(x) if isinstance(images, np.ndarray) else x


@keras.saving.register_keras_serializable(package="facekit")
class InputNormalization(keras.layers.Layer):
    """A model's first layer: RGB 0-255 -> what its backbone expects. Computes in float32 under mixed precision."""

    def __init__(self, mode: str, **kwargs: Any) -> None:
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.mode = mode
        self.spec = normalization(mode)

    def call(self, images: Any) -> Any:
        return _normalize(images, self.spec)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mode": self.mode}
