"""Labelled face images as parallel arrays (``Samples``), whatever dataset they come from; the fixed split and
oversampling.

Readers (``facekit/data/datasets.py``) make Samples; a label a dataset does not give for an image is MISSING (-1).
"""
import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facekit.core.errors import DataError
from facekit.core.labels import GENDERS, RACES, age_decade
from facekit.core.outputs import write_text

MISSING = -1  # an age, gender or race that the dataset does not give for this image
SPLITS = ("train", "val", "test")


@dataclass
class Samples:
    """Parallel arrays, one entry per image: path, age in years, gender index, race index (MISSING where unknown),
    and the dataset's own fold (Adience's, by person) where it has folds."""

    paths: np.ndarray
    ages: np.ndarray
    genders: np.ndarray
    races: np.ndarray
    folds: np.ndarray | None = None

    def __len__(self):
        return len(self.paths)

    def subset(self, mask_or_index):
        return Samples(self.paths[mask_or_index], self.ages[mask_or_index], self.genders[mask_or_index],
                       self.races[mask_or_index], None if self.folds is None else self.folds[mask_or_index])

    @property
    def names(self):
        return [Path(p).name for p in self.paths]

    def labelled_heads(self):
        """The heads ("age", "gender", "race") that at least one image has a label for."""
        columns = {"age": self.ages, "gender": self.genders, "race": self.races}
        return [head for head, values in columns.items() if (values != MISSING).any()]


def require_some_label(samples, purpose):
    """Stops, in one line, when no image has an age, a gender or a race: nothing to train on or score."""
    if not samples.labelled_heads():
        raise DataError(f"{purpose} needs labels, but none of the {len(samples)} images has an age, a gender "
                           "or a race")


def _counts(values, names):
    """``male 12, female 9[, unknown 3]`` for label ``values`` and ``names`` {value: name}."""
    counter = Counter(values.tolist())
    parts = [f"{name} {counter[value]}" for value, name in names.items()]
    return ", ".join(parts + ([f"unknown {counter[MISSING]}"] if counter[MISSING] else []))


def describe(samples):
    """Label distribution in three lines."""
    decades = np.where(samples.ages == MISSING, MISSING, samples.ages // 10 * 10)
    return (f"{len(samples)} images\n"
            f"  gender: {_counts(samples.genders, dict(enumerate(GENDERS)))}\n"
            f"  race:   {_counts(samples.races, dict(enumerate(RACES)))}\n"
            f"  age:    {_counts(decades, {d: f'{d}s' for d in sorted(set(decades.tolist()) - {MISSING})})}")


def _unit_hash(name, salt):
    """A number in [0, 1) fixed by a file name alone: the split does not depend on listing order or --limit."""
    digest = hashlib.sha256(f"{salt}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0 ** 64


def split(samples, fractions=(0.7, 0.1, 0.2), limit=None):
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


def fold_split(samples, test_fold, val_fraction=0.1):
    """{"train", "val", "test"}: the dataset's fold ``test_fold`` is the test split (no person of it elsewhere, as
    the folds are by person); the other folds give train and val by file-name hash."""
    if samples.folds is None:
        raise DataError("this dataset has no folds of its own (a held-out fold needs Adience's fold files)")
    held_out = samples.folds == test_fold
    rest = split(samples.subset(~held_out), fractions=(1 - val_fraction, val_fraction, 0.0))
    return {"train": rest["train"], "val": rest["val"], "test": samples.subset(held_out)}


def save_split(splits, path):
    write_text(path, json.dumps({k: v.names for k, v in splits.items()}, indent=0))


def oversample_rare_ages(samples):
    """Repeats images of rare age decades (up to 4x, by the square root of their rarity); images without an age
    are kept once."""
    known = samples.ages != MISSING
    decades = age_decade(np.where(known, samples.ages, 0))
    counts = np.bincount(decades[known], minlength=10)
    repeats = np.clip(np.round(np.sqrt(max(counts.max(), 1) / np.maximum(counts, 1))), 1, 4).astype(int)
    return samples.subset(np.repeat(np.arange(len(samples)), np.where(known, repeats[decades], 1)))
