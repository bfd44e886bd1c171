"""Metrics that count only the images with a label for their head (targets of zeros are skipped), in the layout of
``facekit.train.losses``: the age head's exact-age half, the race head's class sets."""
from collections.abc import Iterable
from typing import Any

import keras
import tensorflow as tf

from facekit.train.losses import labelled


class _LabelledOnly(keras.metrics.Metric):
    """A metric that skips the images without a label for its head (targets all zeros)."""

    def update_state(self, y_true: tf.Tensor, y_pred: tf.Tensor, sample_weight: tf.Tensor | None = None) -> Any:
        weight = labelled(self.labels_of(y_true))
        if sample_weight is not None:
            weight = weight * tf.cast(tf.reshape(sample_weight, tf.shape(weight)), tf.float32)
        return super().update_state(y_true, y_pred, sample_weight=weight)

    def labels_of(self, y_true: tf.Tensor) -> tf.Tensor:
        return y_true


def _in_set(y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    """1 where the most probable class is one the target allows (for a one-hot target: categorical accuracy)."""
    chosen = tf.argmax(y_pred, axis=-1, output_type=tf.int32)
    return tf.cast(tf.gather(tf.cast(y_true, tf.float32), chosen, batch_dims=1) > 0, tf.float32)


@keras.saving.register_keras_serializable(package="facekit")
class LabelledAccuracy(_LabelledOnly, keras.metrics.MeanMetricWrapper):
    """Accuracy over the images that have a label for the head: the most probable class is the label, or one of its
    set (race)."""

    def __init__(self, name: str = "accuracy", dtype: Any = None) -> None:
        super().__init__(_in_set, name=name, dtype=dtype)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype}


@keras.saving.register_keras_serializable(package="facekit")
class AgeMAE(_LabelledOnly, keras.metrics.MeanMetricWrapper):
    """Mean absolute difference, in years, between the expected ages of the target and predicted distributions,
    over the images that have an exact age (the targets' first half; an interval's half is not scored here)."""

    def __init__(self, centres: Iterable[float], name: str = "mae", dtype: Any = None) -> None:
        self.centres = [float(c) for c in centres]
        count = len(self.centres)
        weights = tf.constant(self.centres, tf.float32)[:, None]
        super().__init__(lambda y_true, y_pred: tf.abs(tf.matmul(tf.cast(y_true, tf.float32)[:, :count], weights)
                                                       - tf.matmul(tf.cast(y_pred, tf.float32), weights))[:, 0],
                         name=name, dtype=dtype)

    def labels_of(self, y_true: tf.Tensor) -> tf.Tensor:
        return y_true[:, :len(self.centres)]

    def get_config(self) -> dict[str, Any]:
        return {"centres": self.centres, "name": self.name, "dtype": self.dtype}
