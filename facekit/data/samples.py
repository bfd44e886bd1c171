"""Labelled face images as parallel arrays (``Samples``), whatever dataset they come from; the fixed split and
oversampling.

Readers (``facekit/data/datasets.py``) make Samples; a label a dataset does not give for an image is MISSING (-1).
"""
from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
from numpy.typing import ArrayLike, NDArray

from facekit.core.errors import DataError
from facekit.core.labels import GENDERS, RACE_LABELS, age_decade

MISSING = -1  # an age, gender or race that the dataset does not give for this image
SPLITS = ("train", "val", "test")
Selection: TypeAlias = NDArray[np.bool_] | NDArray[np.integer[Any]]  # a mask over the images, or their indices


@dataclass
class Samples:
    """Parallel arrays, one entry per image: path, age in years, gender index, race label (an index into
    ``facekit.core.labels.RACE_LABELS``: a class or a set of classes), MISSING where unknown; ``age_intervals`` (N, 2),
    the lowest and highest age (inclusive) of images labelled with an age bin (FairFace's) instead of an exact age,
    whose ``ages`` are MISSING (rows of MISSING elsewhere); the dataset's own fold (Adience's, by person) where it has
    folds, and which of a run's sources (``--data``, by position) each image comes from when it has several."""

    paths: np.ndarray
    ages: np.ndarray
    genders: np.ndarray
    races: np.ndarray
    folds: np.ndarray | None = None
    sources: np.ndarray | None = None
    age_intervals: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def source_index(self) -> np.ndarray:
        """Each image's source position; all 0 for samples of one source."""
        return np.zeros(len(self), np.int64) if self.sources is None else self.sources

    @property
    def intervals(self) -> np.ndarray:
        """(N, 2) age intervals; rows of MISSING for images without one."""
        return np.full((len(self), 2), MISSING, np.int32) if self.age_intervals is None else self.age_intervals

    def subset(self, mask_or_index: Selection) -> Samples:
        def optional(values: np.ndarray | None) -> np.ndarray | None:
            return None if values is None else values[mask_or_index]

        return Samples(self.paths[mask_or_index], self.ages[mask_or_index], self.genders[mask_or_index],
                       self.races[mask_or_index], optional(self.folds), optional(self.sources),
                       optional(self.age_intervals))

    @property
    def names(self) -> list[str]:
        return [Path(p).name for p in self.paths]

    def labelled_heads(self) -> list[str]:
        """The heads ("age", "gender", "race") that at least one image has a label for."""
        columns = {"age": np.maximum(self.ages, self.intervals[:, 0]), "gender": self.genders, "race": self.races}
        return [head for head, values in columns.items() if (values != MISSING).any()]


def require_some_label(samples: Samples, purpose: str) -> None:
    """Stops, in one line, when no image has an age, a gender or a race: nothing to train on or score."""
    if not samples.labelled_heads():
        raise DataError(f"{purpose} needs labels, but none of the {len(samples)} images has an age, a gender "
                           "or a race")


def _counts(values: np.ndarray, names: Mapping[int, str]) -> str:
    """``male 12, female 9[, unknown 3]`` for label ``values`` and ``names`` {value: name}."""
    counter = Counter(values.tolist())
    parts = [f"{name} {counter[value]}" for value, name in names.items()]
    return ", ".join(parts + ([f"unknown {counter[MISSING]}"] if counter[MISSING] else []))


def describe(samples: Samples) -> str:
    """Label distribution in three lines."""
    decades = np.where(samples.ages == MISSING, MISSING, samples.ages // 10 * 10)
    races = {i: name for i, name in enumerate(RACE_LABELS) if (samples.races == i).any()}
    lines = [f"{len(samples)} images",
             f"  gender: {_counts(samples.genders, dict(enumerate(GENDERS)))}",
             f"  race:   {_counts(samples.races, races)}"]
    if (samples.ages != MISSING).any() or samples.age_intervals is None:
        lines.append(f"  age:    {_counts(decades, {d: f'{d}s' for d in sorted(set(decades.tolist()) - {MISSING})})}")
    if samples.age_intervals is not None and (samples.intervals[:, 0] != MISSING).any():
        lows = samples.intervals[:, 0]
        names = {low: f"{low}-{high}" if high < 130 else f"{low}+" for low, high in
                 sorted(set(map(tuple, samples.intervals.tolist()))) if low != MISSING}
        lines.append(f"  age bins: {', '.join(f'{names[low]} {int((lows == low).sum())}' for low in names)}")
    return "\n".join(lines)


def _unit_hash(name: str, salt: str) -> float:
    """A number in [0, 1) fixed by a file name alone: the split does not depend on listing order or --limit."""
    digest = hashlib.sha256(f"{salt}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0 ** 64


def split(samples: Samples, fractions: Sequence[float] = (0.7, 0.1, 0.2),
          limit: int | None = None) -> dict[str, Samples]:
    """{"train", "val", "test"} -> Samples. ``limit`` keeps a fixed subset of K images, each in its usual split."""
    if abs(sum(fractions) - 1) > 1e-6:
        raise DataError(f"split fractions must add up to 1, not {fractions}")
    names = samples.names
    if limit is not None and limit < len(samples):
        order = np.argsort([_unit_hash(n, "limit") for n in names], kind="stable")
        keep = np.sort(order[:limit])
        samples, names = samples.subset(keep), [names[i] for i in keep]
    position = np.array([_unit_hash(n, "split") for n in names])
    edges = np.cumsum(fractions)
    which = np.searchsorted(edges[:-1], position, side="right")
    return {name: samples.subset(which == i) for i, name in enumerate(SPLITS)}


def fold_split(samples: Samples, test_fold: int, val_fraction: float = 0.1) -> dict[str, Samples]:
    """{"train", "val", "test"}: the dataset's fold ``test_fold`` is the test split (no person of it elsewhere, as
    the folds are by person); the other folds give train and val by file-name hash."""
    if samples.folds is None:
        raise DataError("this dataset has no folds of its own (a held-out fold needs Adience's fold files)")
    held_out = samples.folds == test_fold
    rest = split(samples.subset(~held_out), fractions=(1 - val_fraction, val_fraction, 0.0))
    return {"train": rest["train"], "val": rest["val"], "test": samples.subset(held_out)}


def concatenate(parts: Sequence[Samples]) -> Samples:
    """One Samples of several sources' Samples, each image tagged with its source's position in ``parts``."""
    def column(name: str) -> np.ndarray:
        return np.concatenate([getattr(part, name) for part in parts])

    return Samples(column("paths"), column("ages"), column("genders"), column("races"),
                   sources=np.concatenate([np.full(len(part), i, np.int32) for i, part in enumerate(parts)]),
                   age_intervals=(np.concatenate([part.intervals for part in parts])
                                  if any(part.age_intervals is not None for part in parts) else None))


BALANCES = ("none", "oversample", "sex-decade")  # --age-balance: none; rare age decades; rare sex x decade groups
MAX_REPEAT = 4.0


def sampling_weights(samples: Samples, balance: str = "none",
                     source_weights: ArrayLike | None = None) -> NDArray[np.float64]:
    """How often each image is drawn per epoch (its expected repeat count): its source's weight times, with
    ``balance``, the square root of its group's rarity within its source (capped at MAX_REPEAT). Groups: age decade
    (``oversample``) or sex x age decade (``sex-decade``); images without the group's labels keep weight 1."""
    sources = samples.source_index
    weights = np.ones(len(samples))
    if balance != "none":
        by_sex = balance == "sex-decade"
        known = (samples.ages != MISSING) & ((samples.genders != MISSING) | (not by_sex))
        sex = np.where(known, samples.genders, 0) if by_sex else 0
        group = age_decade(np.where(known, samples.ages, 0)) * 2 + sex
        for source in np.unique(sources):
            mine = known & (sources == source)
            counts = np.bincount(group[mine], minlength=20)
            rarity = np.sqrt(counts.max() / np.maximum(counts, 1))
            weights[mine] = np.clip(rarity[group[mine]], 1, MAX_REPEAT)
    if source_weights is not None:
        weights *= np.asarray(source_weights, np.float64)[sources]
    return weights


def resample_index(weights: ArrayLike, seed: int = 0) -> NDArray[np.intp]:
    """The index of an epoch's images (``samples.subset`` takes it): each image repeated by its weight, the whole
    part of it always, the fraction with that probability (one fixed draw per ``seed``). A weight of 0 drops the
    image."""
    weights = np.asarray(weights)
    draw = np.random.default_rng(seed).random(len(weights))
    repeats = np.floor(weights).astype(int) + (draw < weights - np.floor(weights))
    return np.repeat(np.arange(len(weights)), repeats)


def describe_weights(samples: Samples, weights: NDArray[np.float64], source_names: Sequence[str]) -> str:
    """Per source: images, images drawn per epoch, and the weight of each sex x decade group, for the log."""
    sources = samples.source_index
    decades = age_decade(np.maximum(samples.ages, 0))
    lines: list[str] = []
    for source, name in enumerate(source_names):
        mine = sources == source
        if not mine.any():
            continue
        lines.append(f"  {name}: {int(mine.sum())} images -> {weights[mine].sum():.0f} drawn per epoch")
        known = mine & (samples.ages != MISSING) & (samples.genders != MISSING)
        for gender, label in enumerate(GENDERS):
            cells = []
            for decade in range(10):
                cell = known & (samples.genders == gender) & (decades == decade)
                if cell.any():
                    cells.append(f"{decade * 10}s x{weights[cell].mean():.2f}")
            if cells:
                lines.append(f"    {label}: " + ", ".join(cells))
    return "\n".join(lines)
