"""Test-time augmentation: a batch's probabilities averaged over variants of it. The one place it is done: the
runtimes' predictors (demos, ``facekit.analyze``) and evaluation call ``probabilities_with``.

    none        the batch as it is
    flip        the batch and its mirror image (2 predictions a face)
    crops       the batch and its four corner crops, each resized back to the full side (5 predictions a face)
    flip+crops  those five and their mirror images (10 predictions a face)
"""
from collections.abc import Callable, Mapping
from typing import Any

import cv2
import numpy as np

from facekit.core.errors import InputError

TTA = ("none", "flip", "crops", "flip+crops")

# A corner crop of 93 % of the side, resized back, is a zoom of 1.075 and a shift of 3.5 % of the side: inside the
# zoom (+-8 %) and shift (+-5 %) that training draws from (facekit.train.pipeline.Augmentation), so each crop is a face
# framed as the model learned them. Four corners and no more: each variant costs one more prediction.
CORNER_SIDE = 0.93


def check_tta(tta: str) -> str:
    if tta not in TTA:
        raise InputError(f"unknown test-time augmentation '{tta}': use one of {', '.join(TTA)}")
    return tta


def variants(batch: Any, tta: str) -> list[np.ndarray]:
    """The batch (N, H, W, 3), with ``crops`` its four corner crops (top left, top right, bottom left, bottom right)
    and with ``flip`` the mirror image (left and right swapped) of each of those: every variant the batch's shape."""
    batch = np.asarray(batch, np.float32)
    parts = check_tta(tta).split("+")
    faces = [batch] + (corner_crops(batch) if "crops" in parts else [])
    return faces + ([np.ascontiguousarray(face[:, :, ::-1]) for face in faces] if "flip" in parts else [])


def corner_crops(batch: np.ndarray) -> list[np.ndarray]:
    """The four corners of CORNER_SIDE of each side, each resized (bilinear) back to the batch's height and width."""
    height, width = batch.shape[1:3]
    crop_height, crop_width = round(CORNER_SIDE * height), round(CORNER_SIDE * width)
    return [_resized(batch[:, top:top + crop_height, left:left + crop_width], batch.shape)
            for top in (0, height - crop_height) for left in (0, width - crop_width)]


def _resized(crops: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    resized = np.empty(shape, np.float32)
    for crop, out in zip(crops, resized):
        out[...] = cv2.resize(crop, (shape[2], shape[1]), interpolation=cv2.INTER_LINEAR)
    return resized


def probabilities_with(predict_batch: Callable[[np.ndarray], Mapping[str, Any]], batch: Any,
                       tta: str) -> dict[str, np.ndarray]:
    """``predict_batch(batch)`` -> {head: probabilities}, averaged over the batch's ``tta`` variants."""
    outputs = [predict_batch(variant) for variant in variants(batch, tta)]
    if len(outputs) == 1:
        return {head: np.asarray(values) for head, values in outputs[0].items()}
    return {head: np.mean([np.asarray(output[head], np.float32) for output in outputs], axis=0) for head in outputs[0]}
