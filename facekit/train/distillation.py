"""Knowledge distillation: a student trained on targets mixed from the labels and from trained teachers' predictions.

An ensemble of models (and each face's mirror image) predicts better than any one of them, but costs a prediction
per model per face at inference. Distilled, its knowledge goes into one model of the same cost: the teachers'
probabilities for each training image (computed once, cached) are mixed into that image's targets, so the student
also learns how likely the other ages, genders and races are for this face, not only the noisy label.

A head the image has no label for stays masked (its target a row of zeros): the teachers teach what the labels
teach, and a source without race labels gets no race targets from them.
"""
import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from facekit.backbones.pretrained import sha256_of
from facekit.core import paths
from facekit.core.errors import FaceKitError
from facekit.core.labels import AgeBins
from facekit.core.outputs import replacing
from facekit.data.samples import Samples
from facekit.infer.model_metadata import HEADS
from facekit.infer.predictors import EnsemblePredictor
from facekit.infer.scoring import as_predictor, split_probabilities
from facekit.infer.tta import check_tta
from facekit.train.pipeline import add_files, labels_for
from facekit.train.train_config import TrainConfig

logger = logging.getLogger(__name__)


def training_targets(config: TrainConfig, samples: Samples, age_bins: AgeBins) -> dict[str, np.ndarray]:
    """The training images' targets: from their labels (``labels_for``), mixed with the teachers' predictions when
    the run has ``config.teachers``."""
    labels = labels_for(samples, age_bins, config.age_sigma)
    if not config.teachers:
        return labels
    teacher = teacher_probabilities(config.teachers, samples, age_bins, config.teacher_tta)
    logger.info(f"targets: {1 - config.teacher_weight:g} labels + {config.teacher_weight:g} teachers")
    return distilled(labels, teacher, config.teacher_weight)


def teacher_probabilities(teachers: Sequence[str], samples: Samples, age_bins: AgeBins,
                          tta: str = "flip") -> dict[str, np.ndarray]:
    """The teachers' mean probabilities for each of the samples' images (read as the predictors read crops, with
    ``tta``), from the cache when the same teachers already predicted the same images."""
    check_teachers(teachers, tta)
    cache = paths.image_cache_dir() / f"teachers_{_key(teachers, samples, tta)}.npz"
    if cache.is_file():
        logger.info(f"teachers' predictions for {len(samples)} images read from {cache}")
        with np.load(cache) as stored:
            probs = {head: stored[head] for head in HEADS}
    else:
        predictors = [as_predictor(teacher, tta) for teacher in teachers]
        predictor = predictors[0] if len(predictors) == 1 else EnsemblePredictor(predictors)
        logger.info(f"the teachers ({', '.join(teachers)}; --teacher-tta {tta}) predict the {len(samples)} training "
                    f"images once; cached in {cache}")
        probs = {head: np.asarray(values, np.float32) for head, values in
                 split_probabilities(predictor, samples, task="teachers predicting").items()}
        cache.parent.mkdir(parents=True, exist_ok=True)
        with replacing(cache) as partial, open(partial, "wb") as file:
            np.savez(file, **probs)
    if probs["age"].shape[1] != age_bins.count:
        raise FaceKitError(f"the teachers predict {probs['age'].shape[1]} age bins, the student {age_bins.count}: "
                           "teachers and student need the same age bins")
    return probs


def check_teachers(teachers: Sequence[str], tta: str) -> None:
    """Stops in one line, before anything slow, on a teacher that is not there or an unknown ``tta``."""
    check_tta(tta)
    missing = [teacher for teacher in teachers if not Path(teacher).is_file()]
    if missing:
        raise FaceKitError(f"--teacher model not found: {', '.join(missing)}")


def distilled(labels: dict[str, np.ndarray], teacher: dict[str, np.ndarray], weight: float) -> dict[str, np.ndarray]:
    """Targets ``(1 - weight) * labels + weight * teacher`` per head; rows of zeros (no label: masked) stay so. The
    age targets' second half (an interval's mask, ``pipeline.labels_for``) gets no teacher: the teacher's
    distribution goes into the first half, beside the interval's mask scaled by ``1 - weight``."""
    if not 0.0 <= weight <= 1.0:
        raise FaceKitError(f"--teacher-weight {weight:g}: give a share between 0 and 1")
    mixed = {}
    for head, targets in labels.items():
        taught = teacher[head]
        if taught.shape[1] * 2 == targets.shape[1]:  # the age head: [distribution | interval mask]
            taught = np.concatenate([taught, np.zeros_like(taught)], axis=1)
        if taught.shape[1] != targets.shape[1]:
            raise FaceKitError(f"the teachers predict {teacher[head].shape[1]} {head} classes, the student "
                               f"{targets.shape[1]}: teachers and student need the same classes")
        labelled = targets.sum(axis=1, keepdims=True) > 0
        mixed[head] = np.where(labelled, (1.0 - weight) * targets + weight * taught, 0.0).astype(np.float32)
    return mixed


def _key(teachers: Sequence[str], samples: Samples, tta: str) -> str:
    """Fixed by the teachers' files (content), the images (paths in order, sizes, times) and the test-time
    augmentation."""
    digest = hashlib.sha256(f"{tta}|".encode())
    for teacher in teachers:
        digest.update(sha256_of(teacher).encode())
    add_files(digest, samples.paths.tolist())
    return digest.hexdigest()[:16]
