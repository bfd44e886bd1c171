"""keras-vggface's VGGFace2 ResNet50, rebuilt natively in Keras 3.

Same topology as keras-vggface 0.6 ``RESNET50(include_top=False)``: 175 layers, 23,561,152 parameters, no conv
biases, BatchNorm epsilon 1e-3. Keras 3 forbids ``/`` in layer names, so ``conv1/7x7_s2`` becomes
``conv1_7x7_s2``; :func:`keras3_name` is the one mapping used when reading the published weights.
"""
from collections.abc import Sequence
from typing import Any

import keras
from keras import layers

# (stage, filters of the three convolutions, number of blocks); stage 2 does not downsample.
STAGES = ((2, (64, 64, 256), 3), (3, (128, 128, 512), 4), (4, (256, 256, 1024), 6), (5, (512, 512, 2048), 3))


def keras3_name(keras_vggface_name: str) -> str:
    """``conv2_1_1x1_reduce/bn`` -> ``conv2_1_1x1_reduce_bn``."""
    return keras_vggface_name.replace("/", "_")


def _conv_bn(x: Any, filters: int, kernel: int, name: str, strides: int = 1, relu: bool = True) -> Any:
    x = layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False, name=name)(x)
    x = layers.BatchNormalization(axis=3, epsilon=1e-3, name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x) if relu else x


def _bottleneck(x: Any, filters: tuple[int, int, int], stage: int, block: int, strides: int) -> Any:
    """Conv block (block 1, with a projection shortcut) or identity block (later blocks)."""
    f1, f2, f3 = filters
    prefix = f"conv{stage}_{block}"
    y = _conv_bn(x, f1, 1, f"{prefix}_1x1_reduce", strides=strides)
    y = _conv_bn(y, f2, 3, f"{prefix}_3x3")
    y = _conv_bn(y, f3, 1, f"{prefix}_1x1_increase", relu=False)
    shortcut = x if block > 1 else _conv_bn(x, f3, 1, f"{prefix}_1x1_proj", strides=strides, relu=False)
    y = layers.Add(name=f"{prefix}_add")([y, shortcut])
    return layers.Activation("relu", name=f"{prefix}_relu")(y)


def vggface2_resnet50(input_shape: Sequence[int]) -> keras.Model:
    """Normalised image (``vggface2``) -> pooled 2048-d feature."""
    inputs = keras.Input(shape=input_shape, name="image")
    x = _conv_bn(inputs, 64, 7, "conv1_7x7_s2", strides=2)
    x = layers.MaxPooling2D(3, strides=2, name="conv1_pool")(x)
    for stage, filters, blocks in STAGES:
        for block in range(1, blocks + 1):
            strides = 2 if block == 1 and stage > 2 else 1
            x = _bottleneck(x, filters, stage, block, strides)
    # keras-vggface keeps its 7x7 average pool even without the classifier; at 197-224 px input the
    # feature map is 7x7, so this is a global average, and the global pooling below sees a 1x1 map. Smaller
    # inputs (which keras-vggface cannot take) get a smaller window instead of an error.
    window = min(7, x.shape[1] or 7, x.shape[2] or 7)
    x = layers.AveragePooling2D(window, name="avg_pool")(x)
    x = layers.GlobalAveragePooling2D(name="global_pool")(x)
    return keras.Model(inputs, x, name="vggface2_resnet50")
