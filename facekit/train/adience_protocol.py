"""Adience's published 5-fold evaluation protocol, which trains five times: ``--protocol adience-5fold``.

Adience's five folds are by person: each of the five runs trains on four folds (a tenth of them, by file-name hash,
for validation) and scores the fifth. The runs are ``face_weights/RUN/fold0`` ... ``fold4``; the summary, mean and
standard deviation (over the folds, ddof 0) of exact and one-off age-group accuracy and of gender accuracy, goes to
``face_weights/RUN/protocol.json``.
"""
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from facekit.core.errors import FaceKitError
from facekit.core.outputs import write_text
from facekit.data.adience import FOLDS
from facekit.train.run_folder import RunFolder
from facekit.train.train_config import TrainConfig
from facekit.train.training import RunRecord

logger = logging.getLogger(__name__)

PROTOCOLS = ("adience-5fold",)
SCORES = ("age_group_exact", "age_group_1off", "gender_acc")


def protocol_file(run: str) -> Path:
    return RunFolder.named(run).dir / "protocol.json"


def summarize(per_fold: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """{score: {"mean", "std", "folds"}} over the folds' metrics."""
    summary: dict[str, dict[str, Any]] = {}
    for score in SCORES:
        values = [metrics[score] for metrics in per_fold if score in metrics]
        if values:
            summary[score] = {"mean": round(float(np.mean(values)), 4), "std": round(float(np.std(values)), 4),
                              "folds": values}
    return summary


def run_adience_5fold(config: TrainConfig, train: Callable[[TrainConfig], RunRecord]) -> dict[str, Any]:
    """Trains and scores ``config`` (a TrainConfig) once per held-out fold with ``train`` (which returns a
    RunRecord); returns the summary."""
    summary_file = protocol_file(config.run)
    if summary_file.exists():
        raise FaceKitError(f"{summary_file} already exists; choose another --run name")
    for k in range(FOLDS):
        RunFolder.named(f"{config.run}/fold{k}").check(resume=False)  # every fold's run is new: checked first
    per_fold = []
    for k in range(FOLDS):
        logger.info(f"adience-5fold: fold {k} held out ({k + 1} of {FOLDS})")
        per_fold.append(train(replace(config, run=f"{config.run}/fold{k}", test_fold=k)).metrics or {})
    summary = {"protocol": "adience-5fold", "data": config.data, **summarize(per_fold)}
    write_text(summary_file, json.dumps(summary, indent=2))
    logger.info("adience-5fold: " + ", ".join(f"{score} {value['mean']:.4f} ± {value['std']:.4f}"
                                     for score, value in summary.items() if isinstance(value, dict)))
    logger.info(f"wrote {summary_file}")
    return summary
