"""The heads' losses, and the age losses by name (``--age-loss``): adding one is a class here and its line in
AGE_LOSSES.

Targets (``facekit.train.pipeline.labels_for``): a label an image lacks is a row of zeros, and every loss here is 0
(with no gradient) for it. The age head's targets have two halves: a distribution over the bins for an exact age
(a Gaussian of ``--age-sigma`` years: label distribution learning), and a 0/1 mask of the bins inside an age interval
(FairFace's bins), which trains on the probability mass inside it. The race head's targets are 0/1 masks too: one
class, or a set of them (UTKFace's Asian: East and Southeast Asian), trained on the mass of the set.
"""
from collections.abc import Iterable
from typing import Any

import keras
import tensorflow as tf

EPSILON = 1e-7


def labelled(y_true: tf.Tensor) -> tf.Tensor:
    """1 for the rows of a batch that carry a label, 0 for rows of zeros (a label the image lacks)."""
    return tf.cast(tf.reduce_sum(tf.cast(y_true, tf.float32), axis=-1) > 0, tf.float32)


@keras.saving.register_keras_serializable(package="facekit")
def masked_crossentropy(y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    """Categorical cross-entropy over the images that have a label for the head; 0 (and no gradient) for the others.

    A missing label is a target row of zeros. Fed to Keras' cross-entropy as it is, such rows do not add to the
    loss but did wreck training: on All-Age-Faces (no race) fine-tuning dlib's network diverged within 30 steps at
    lr 5e-5, and was stable with the same rows masked here. So the rows are given a harmless target, and their loss
    is multiplied by 0."""
    known = labelled(y_true)
    classes = tf.cast(tf.shape(y_true)[-1], tf.float32)
    safe = tf.where(known[:, None] > 0, tf.cast(y_true, tf.float32), 1.0 / classes)
    return keras.losses.categorical_crossentropy(safe, y_pred) * known


def mass_loss(y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    """``-log`` of the predicted probability inside the target's set (``y_true``: a 0/1 mask per row), times the
    mask's height (a mask scaled by mixup or distillation counts that much); exactly the cross-entropy for a one-hot
    row; 0 for rows of zeros."""
    targets, probs = tf.cast(y_true, tf.float32), tf.cast(y_pred, tf.float32)
    height = tf.reduce_max(targets, axis=-1)
    inside = tf.reduce_sum(probs * targets, axis=-1) / tf.maximum(height, EPSILON)
    return -tf.math.log(tf.maximum(inside, EPSILON)) * tf.cast(height > 0, tf.float32) * height


@keras.saving.register_keras_serializable(package="facekit")
def set_crossentropy(y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    """The race head's loss: ``mass_loss`` (a set of classes trains on their summed probability)."""
    return mass_loss(y_true, y_pred)


@keras.saving.register_keras_serializable(package="facekit")
class AgeLoss(keras.losses.Loss):
    """The age head's loss: ``exact_loss`` on the rows with an exact age (the targets' first half, a distribution over
    the bins), plus on the rows with an age interval (second half, a 0/1 mask of its bins) the negative log of the
    mass inside it and ``interval_sharpness`` times the prediction's entropy (the mass alone would let it spread flat
    over the interval). Subclasses define ``exact_loss``; this one is label distribution learning (cross-entropy)."""

    def __init__(self, centres: Iterable[float], interval_sharpness: float = 0.05, name: str = "age_ldl",
                 **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.centres, self.interval_sharpness = [float(c) for c in centres], float(interval_sharpness)

    def exact_loss(self, targets: tf.Tensor, probs: tf.Tensor) -> tf.Tensor:
        return masked_crossentropy(targets, probs)

    def call(self, y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
        count = len(self.centres)
        targets, probs = tf.cast(y_true, tf.float32), tf.cast(y_pred, tf.float32)
        exact, interval = targets[:, :count], targets[:, count:]
        entropy = -tf.reduce_sum(probs * tf.math.log(tf.maximum(probs, EPSILON)), axis=-1)
        return (self.exact_loss(exact, probs) + mass_loss(interval, probs)
                + self.interval_sharpness * entropy * labelled(interval))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "centres": self.centres, "interval_sharpness": self.interval_sharpness}


@keras.saving.register_keras_serializable(package="facekit")
class MeanVarianceLoss(AgeLoss):
    """``--age-loss mean-variance`` (Pan et al., CVPR 2018): on exact ages the masked cross-entropy, plus
    ``mean_weight`` times half the squared error of the predicted distribution's mean (in years: the expected age the
    demos report) and ``variance_weight`` times its variance, so that the distribution is also pulled to centre on the
    true age and to be sharp. Intervals as AgeLoss."""

    def __init__(self, centres: Iterable[float], mean_weight: float = 0.2, variance_weight: float = 0.05,
                 name: str = "mean_variance", **kwargs: Any) -> None:
        super().__init__(centres, name=name, **kwargs)
        self.mean_weight, self.variance_weight = mean_weight, variance_weight

    def exact_loss(self, targets: tf.Tensor, probs: tf.Tensor) -> tf.Tensor:
        centres = tf.constant(self.centres, tf.float32)
        known = labelled(targets)
        true_age = tf.reduce_sum(targets * centres, -1) / tf.maximum(tf.reduce_sum(targets, -1), 1e-6)
        mean = tf.reduce_sum(probs * centres, -1)
        variance = tf.reduce_sum(probs * tf.square(centres - mean[:, None]), -1)
        extra = self.mean_weight * 0.5 * tf.square(mean - true_age) + self.variance_weight * variance
        return masked_crossentropy(targets, probs) + known * extra

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mean_weight": self.mean_weight, "variance_weight": self.variance_weight}


AGE_LOSSES = {"ldl": AgeLoss, "mean-variance": MeanVarianceLoss}  # --age-loss NAME -> its class (centres, ...)
