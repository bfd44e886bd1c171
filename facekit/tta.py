"""Test-time augmentation: a batch's probabilities averaged over variants of it (``--tta flip``: the batch and its
mirror image). The one place it is done: the runtimes' predictors (demos, ``facekit.analyze``) and evaluation call
``probabilities_with``.
"""
import numpy as np

from facekit.errors import FaceKitError

TTA = ("none", "flip")


def check_tta(tta):
    if tta not in TTA:
        raise FaceKitError(f"unknown test-time augmentation '{tta}': use one of {', '.join(TTA)}")
    return tta


def variants(batch, tta):
    """The batch (N, H, W, 3) and, with ``flip``, its mirror image (left and right swapped)."""
    batch = np.asarray(batch, np.float32)
    return [batch] if check_tta(tta) == "none" else [batch, np.ascontiguousarray(batch[:, :, ::-1])]


def probabilities_with(predict_batch, batch, tta):
    """``predict_batch(batch)`` -> {head: probabilities}, averaged over the batch's ``tta`` variants."""
    outputs = [predict_batch(variant) for variant in variants(batch, tta)]
    if len(outputs) == 1:
        return {head: np.asarray(values) for head, values in outputs[0].items()}
    return {head: np.mean([np.asarray(output[head], np.float32) for output in outputs], axis=0) for head in outputs[0]}
