"""Ensembles: several models' probabilities for the same images, combined into one set.

    mean      the probabilities averaged
    weighted  averaged with the given weights (normalised to sum 1)
    vote      gender and race: each model votes for its most probable class (weighted votes with weights); the
              result is each class's share of the votes, ties broken by the mean probability; age: averaged (the
              age head is a distribution over years, not a class to vote on)
"""
import numpy as np

from facekit.errors import FaceKitError

METHODS = ("mean", "weighted", "vote")
CLASS_HEADS = ("gender", "race")


def ensemble_weights(count, method, weights=None):
    """Normalised weights for ``count`` models; FaceKitError in one line when they do not fit the method."""
    if method not in METHODS:
        raise FaceKitError(f"unknown ensemble method '{method}': use one of {', '.join(METHODS)}")
    if method == "weighted" and weights is None:
        raise FaceKitError("--ensemble weighted needs --ensemble-weights, one per model")
    if weights is None:
        return np.full(count, 1.0 / count)
    weights = np.asarray(weights, np.float64)
    if len(weights) != count:
        raise FaceKitError(f"{len(weights)} ensemble weight(s) for {count} models: give one per model")
    if (weights < 0).any() or weights.sum() <= 0:
        raise FaceKitError("ensemble weights must be 0 or more, and not all 0")
    return weights / weights.sum()


def combine(probabilities, method="mean", weights=None):
    """A list of ``{head: (N, classes)}``, one per model -> one ``{head: (N, classes)}``."""
    if len(probabilities) == 1 and weights is None:
        return probabilities[0]
    w = ensemble_weights(len(probabilities), method, weights)
    combined = {}
    for head in probabilities[0]:
        stacked = np.stack([np.asarray(p[head], np.float64) for p in probabilities])  # (models, N, classes)
        if {p[head].shape for p in probabilities} != {stacked.shape[1:]}:
            raise FaceKitError(f"the models' {head} outputs differ in shape: they cannot be combined")
        mean = np.tensordot(w, stacked, axes=1)
        if method == "vote" and head in CLASS_HEADS:
            votes = np.tensordot(w, np.eye(stacked.shape[2])[stacked.argmax(axis=2)], axes=1)
            mean = votes + 1e-6 * mean  # the vote decides; the probabilities only break a tie
            mean /= mean.sum(axis=1, keepdims=True)
        combined[head] = mean.astype(np.float32)
    return combined
