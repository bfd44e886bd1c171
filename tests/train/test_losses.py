"""The heads' losses and metrics by value on tiny tensors (facekit/train/losses.py, metrics.py): exact ages, age
intervals (FairFace's bins), race labels that are one class or a set of classes, and rows without a label."""
import numpy as np
import pytest

from facekit.core.labels import RACE_LABELS, RACES, AgeBins, race_label_masks
from facekit.train import losses, metrics


def _tf():
    import tensorflow as tf
    return tf


def test_an_interval_trains_on_the_mass_inside_it_and_exact_ages_keep_their_loss():
    tf = _tf()
    bins = AgeBins(0, 9, 1)  # ten one-year bins, the last "9 and over"
    probs = np.full((3, 10), 0.1, np.float32)
    probs[0] = [0.0, 0.0, 0.0, 0.2, 0.3, 0.1, 0.1, 0.1, 0.1, 0.1]
    exact = np.zeros((3, 10), np.float32)
    exact[1, 4] = 1.0  # an exact age of 4
    intervals = bins.interval_masks([[3, 5], [-1, -1], [-1, -1]])  # ages 3-5; the third image has no age at all
    targets = np.concatenate([exact, intervals], axis=1)
    loss = losses.AgeLoss(bins.centres, interval_sharpness=0.05, reduction=None)
    values = loss(tf.constant(targets), tf.constant(probs)).numpy()
    inside = 0.2 + 0.3 + 0.1
    entropy = -sum(p * np.log(p) for p in probs[0] if p > 0)
    np.testing.assert_allclose(values, [-np.log(inside) + 0.05 * entropy, -np.log(0.1), 0.0], rtol=1e-5)
    assert losses.AgeLoss.from_config(loss.get_config()).interval_sharpness == 0.05


def test_the_interval_loss_pulls_the_mass_into_the_interval_and_a_missing_age_gives_no_gradient():
    tf = _tf()
    bins = AgeBins(0, 9, 1)
    logits = tf.Variable(np.zeros((2, 10), np.float32))
    targets = np.concatenate([np.zeros((2, 10), np.float32), bins.interval_masks([[6, 9], [-1, -1]])], axis=1)
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(losses.AgeLoss(bins.centres, reduction=None)(targets, tf.nn.softmax(logits)))
    gradient = tape.gradient(total, logits).numpy()
    assert (gradient[0, 6:] < 0).all() and (gradient[0, :6] > 0).all()  # descent raises the bins inside
    assert (gradient[1] == 0).all()


def test_a_race_set_trains_on_its_summed_probability_and_one_class_is_the_cross_entropy():
    tf = _tf()
    probs = np.array([[0.1, 0.1, 0.1, 0.2, 0.3, 0.1, 0.1]] * 3, np.float32)
    masks = race_label_masks()
    targets = np.stack([masks[RACE_LABELS.index("Asian")], masks[RACES.index("Indian")], np.zeros(7)]).astype(
        np.float32)
    values = losses.set_crossentropy(tf.constant(targets), tf.constant(probs)).numpy()
    np.testing.assert_allclose(values, [-np.log(0.5), -np.log(0.1), 0.0], rtol=1e-5)
    one_hot = losses.masked_crossentropy(tf.constant(targets[1:2]), tf.constant(probs[1:2])).numpy()
    np.testing.assert_allclose(values[1], one_hot[0], rtol=1e-5)


def test_accuracy_counts_a_class_of_the_set_as_right_and_mae_only_exact_ages():
    accuracy = metrics.LabelledAccuracy()
    masks = race_label_masks()
    targets = np.stack([masks[RACE_LABELS.index("Asian")], masks[0], np.zeros(7)]).astype(np.float32)
    probs = np.eye(7, dtype=np.float32)[[RACES.index("Southeast Asian"), 1, 0]]  # right (in the set), wrong, no label
    accuracy.update_state(targets, probs)
    assert float(accuracy.result()) == pytest.approx(0.5)
    mae = metrics.AgeMAE([0.0, 10.0])
    exact = np.array([[1, 0], [0, 0]], np.float32)
    interval = np.array([[0, 0], [1, 1]], np.float32)  # the second image has an interval only: not scored
    mae.update_state(np.concatenate([exact, interval], axis=1), np.array([[0.5, 0.5], [0.0, 1.0]], np.float32))
    assert float(mae.result()) == 5.0


def test_interval_masks_cover_the_bins_the_interval_overlaps():
    bins = AgeBins()
    masks = bins.interval_masks([[3, 9], [70, 130], [-1, -1]])
    assert np.flatnonzero(masks[0]).tolist() == list(range(3, 10))
    assert np.flatnonzero(masks[1]).tolist() == list(range(70, 101))  # "more than 70": up to the open last bin
    assert not masks[2].any()
    coarse = AgeBins(0, 100, 5)
    assert np.flatnonzero(coarse.interval_masks([[3, 9]])[0]).tolist() == [0, 1]
