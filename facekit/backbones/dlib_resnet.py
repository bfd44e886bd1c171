"""dlib's face-recognition ResNet (``anet_type`` of dlib's ``examples/dnn_face_recognition_ex.cpp``) in Keras 3.

The published ``dlib_face_recognition_resnet_model_v1.dat`` (CC0) is this network: a 7x7/2 convolution with 32
filters, affine, ReLU and a 3x3/2 max-pool, then residual levels of 32, 64, 128, 256 and 256 filters, a global
average and a 128-d ``fc`` without bias. :mod:`facekit.backbones.dlib_weights` reads the file into these layers.

Input: 150x150 RGB normalised as dlib's ``input_rgb_image_sized`` does it (the ``dlib`` entry of
``facekit.backbones.preprocessing.NORMALIZATIONS``, which the full model applies as its first layer). Layer names
follow the levels from the input: ``stem_*``, then ``level1`` (32 filters, 3 blocks), ``level2`` (64: one
downsampling block + 3), ``level3`` (128: down + 2), ``level4`` (256: down + 2), ``level5`` (256: one down block).

Every convolution has a bias and is followed by a per-channel :class:`Affine` (dlib's file stores batch norm
folded into a scale and an offset; a BatchNormalization would bring batch statistics back when fine-tuning).
A downsampling block adds its 3x3/2 "valid" convolution path to a 2x2/2 average pool of its input. The two can
differ in size: always in channels (the pool keeps the previous level's width), and, in the deeper levels, in
rows and columns too (at 150 px: 3x3 vs 4x4 in level4, 1x1 vs 2x2 in level5). dlib's ``add_prev`` then gives a
tensor of the larger size in every dimension in which the missing elements count as zeros (``tt::add``);
:class:`ZeroPadAdd` does the same with a bottom/right zero pad and an add.
"""
from collections.abc import Sequence
from typing import Any

import keras
from keras import layers, ops

INPUT_SIZE = 150  # the size dlib's network was trained at (input_rgb_image_sized<150>)
DESCRIPTOR_SIZE = 128
FEATURE_SIZE = 256

STEM_FILTERS = 32
# (name, filters, blocks); the first block of every level but level1 downsamples.
LEVELS = (("level1", 32, 3), ("level2", 64, 4), ("level3", 128, 3), ("level4", 256, 3), ("level5", 256, 1))
STAGES = ("stem",) + tuple(name for name, _, _ in LEVELS)  # layer-name prefixes, input to output


def _side_after(n: int) -> int | None:
    """Output rows (or columns) of the last level for an input side n, or None where a layer gets no input."""
    if n < 7:
        return None
    n = (n - 7) // 2 + 1  # stem conv 7x7/2, no padding
    if n < 3:
        return None
    n = (n - 3) // 2 + 1  # stem max-pool 3x3/2, no padding
    for name, _, _ in LEVELS:
        if name == "level1":
            continue
        if n < 3:  # the 3x3/2 convolution needs 3 rows
            return None
        n = (n - 2) // 2 + 1  # max of the conv path ((n-3)//2+1) and the pool path ((n-2)//2+1)
    return n


MIN_INPUT_SIZE = next(n for n in range(1, INPUT_SIZE + 1) if _side_after(n))  # the smallest side that builds


@keras.saving.register_keras_serializable(package="facekit")
class Affine(layers.Layer):
    """y = x * gamma + beta per channel (last axis): dlib's ``affine`` in CONV_MODE, trainable."""

    def build(self, input_shape: Sequence[int | None]) -> None:
        channels = input_shape[-1]
        self.gamma = self.add_weight(name="gamma", shape=(channels,), initializer="ones")
        self.beta = self.add_weight(name="beta", shape=(channels,), initializer="zeros")

    def call(self, x: Any) -> Any:
        return x * ops.cast(self.gamma, x.dtype) + ops.cast(self.beta, x.dtype)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape


@keras.saving.register_keras_serializable(package="facekit")
class ZeroPadAdd(layers.Layer):
    """Sum of two NHWC tensors of possibly different sizes, as dlib's ``add_prev`` computes it.

    The output has the larger size in each of rows, columns and channels; each input is zero-padded at the
    bottom, the right and the end of its channels to that size (dlib's ``tt::add`` counts missing elements as
    0), then the two are added. Plain pad and add ops, so that the layer converts to TFLite and ONNX.
    """

    def call(self, inputs: Sequence[Any]) -> Any:
        a, b = inputs
        shape_a, shape_b = ops.shape(a), ops.shape(b)
        target = [_larger(shape_a[i], shape_b[i]) for i in (1, 2, 3)]
        return _pad_to(a, shape_a, target) + _pad_to(b, shape_b, target)

    def compute_output_shape(self, input_shapes: Sequence[Sequence[int | None]]) -> tuple[int | None, ...]:
        a, b = input_shapes
        return (a[0],) + tuple(None if x is None or y is None else max(x, y) for x, y in zip(a[1:], b[1:]))


def _larger(x: Any, y: Any) -> Any:
    return max(x, y) if isinstance(x, int) and isinstance(y, int) else ops.maximum(x, y)


def _pad_to(x: Any, shape: Sequence[Any], target: Sequence[Any]) -> Any:
    """Zero-pad x (NHWC) at the bottom, right and channel end to target (rows, columns, channels)."""
    pads = [target[i] - shape[i + 1] for i in range(3)]
    if all(isinstance(p, int) and p == 0 for p in pads):
        return x
    return ops.pad(x, [[0, 0], [0, pads[0]], [0, pads[1]], [0, pads[2]]])


def _residual_block(x: Any, filters: int, prefix: str, down: bool) -> Any:
    """dlib's ``ares`` (down=False) or ``ares_down`` with affine: conv-affine-relu-conv-affine, add, relu."""
    if down:  # con<N,3,3,2,2>: padding 0 when the stride is not 1
        y = layers.Conv2D(filters, 3, strides=2, padding="valid", name=f"{prefix}_conv1")(x)
    else:  # con<N,3,3,1,1>: padding 1
        y = layers.Conv2D(filters, 3, padding="same", name=f"{prefix}_conv1")(x)
    y = Affine(name=f"{prefix}_affine1")(y)
    y = layers.ReLU(name=f"{prefix}_relu1")(y)
    y = layers.Conv2D(filters, 3, padding="same", name=f"{prefix}_conv2")(y)
    y = Affine(name=f"{prefix}_affine2")(y)
    if down:
        shortcut = layers.AveragePooling2D(2, strides=2, padding="valid", name=f"{prefix}_shortcut_pool")(x)
        y = ZeroPadAdd(name=f"{prefix}_add")([y, shortcut])
    else:
        y = layers.Add(name=f"{prefix}_add")([y, x])
    return layers.ReLU(name=f"{prefix}_relu")(y)


def dlib_resnet(input_shape: Sequence[int]) -> keras.Model:
    """Normalised RGB image -> 256-d feature: the last level averaged over its rows and columns (dlib's
    ``avg_pool_everything``). The smallest side that builds is MIN_INPUT_SIZE (checked by
    facekit.backbones.registry)."""
    inputs = keras.Input(shape=input_shape, name="image")
    x = layers.Conv2D(STEM_FILTERS, 7, strides=2, padding="valid", name="stem_conv")(inputs)
    x = Affine(name="stem_affine")(x)
    x = layers.ReLU(name="stem_relu")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="valid", name="stem_pool")(x)
    for level, filters, blocks in LEVELS:
        for block in range(1, blocks + 1):
            x = _residual_block(x, filters, f"{level}_block{block}", down=block == 1 and level != "level1")
    x = layers.GlobalAveragePooling2D(name="global_pool")(x)
    return keras.Model(inputs, x, name="dlib_resnet")


def dlib_descriptor_model(backbone: keras.Model) -> keras.Model:
    """The backbone plus dlib's ``fc_no_bias<128>``: normalised image -> dlib's 128-d face descriptor."""
    descriptor = layers.Dense(DESCRIPTOR_SIZE, use_bias=False, name="fc")(backbone.output)
    return keras.Model(backbone.input, descriptor, name="dlib_descriptor")
