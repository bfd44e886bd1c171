"""The compact CNNs of the earlier work, trained from scratch: same heads, other backbones.

BatchNormalization stands where Levi & Hassner used local response normalisation (LRN is not in Keras 3,
and BN trains faster from scratch), and after their third convolution too. Layer names start with their stage
(``conv1_``...), the prefixes that their entries in ``facekit/backbones/registry.py`` declare for freezing.
"""
from collections.abc import Sequence

import keras
from keras import layers


def simple_cnn(input_shape: Sequence[int]) -> keras.Model:
    """Four 3x3 convolutions of 32/64/128/256 with pooling, then dense 256 with dropout 0.4."""
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    for stage, filters in enumerate((32, 64, 128, 256), start=1):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"conv{stage}_3x3")(x)
        x = layers.BatchNormalization(name=f"conv{stage}_bn")(x)
        x = layers.Activation("relu", name=f"conv{stage}_relu")(x)
        x = layers.MaxPooling2D(2, name=f"conv{stage}_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(256, activation="relu", name="fc1")(x)
    x = layers.Dropout(0.4, name="fc1_dropout")(x)
    return keras.Model(inputs, x, name="simple_cnn")


def levi_hassner(input_shape: Sequence[int]) -> keras.Model:
    """Levi & Hassner (2015): 96x7x7/4, 256x5x5, 384x3x3, each with 3x3/2 max pooling; two FC 512 + dropout 0.5.

    Each convolution is followed by BatchNormalization before its ReLU. The original had LRN after the first two
    and nothing after the third; trained that way from scratch here (lr 1e-3, 128 px) it stayed at chance for
    four epochs, so all three are normalised.
    """
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    for stage, (filters, kernel, strides) in enumerate(((96, 7, 4), (256, 5, 1), (384, 3, 1)), start=1):
        name = f"conv{stage}_{kernel}x{kernel}"
        x = layers.Conv2D(filters, kernel, strides=strides, padding="valid" if stage == 1 else "same",
                          use_bias=False, name=name)(x)
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
        x = layers.Activation("relu", name=f"{name}_relu")(x)
        x = layers.MaxPooling2D(3, strides=2, name=f"conv{stage}_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    for index in (1, 2):
        x = layers.Dense(512, activation="relu", name=f"fc{index}")(x)
        x = layers.Dropout(0.5, name=f"fc{index}_dropout")(x)
    return keras.Model(inputs, x, name="levi_hassner")
