"""Label vocabularies: one-year age bins (DEX), coarse age groups for reporting, gender and race names."""
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
from numpy.typing import ArrayLike, NDArray

from facekit.core.errors import InputError

AgeInterval: TypeAlias = tuple[int, int | None]  # lowest and highest age, inclusive, in years; None: no upper end

GENDERS = ("male", "female")  # UTKFace: 0 male, 1 female
# The race head's classes: FairFace's seven groups, in FairFace's order.
RACES = ("White", "Black", "Indian", "East Asian", "Southeast Asian", "Middle Eastern", "Latino_Hispanic")
# UTKFace's five (its file names' codes 0-4, in this order): the classes of models trained before FairFace.
UTKFACE_RACES = ("White", "Black", "Asian", "Indian", "Others")
# A race label names a class of RACES or a set of them: UTKFace's coarser Asian and Others train on the mass of their
# set. Samples hold an index into RACE_LABELS; RACE_SETS gives the classes each label stands for.
RACE_SETS = {**{race: (race,) for race in RACES}, "Asian": ("East Asian", "Southeast Asian"),
             "Others": ("Middle Eastern", "Latino_Hispanic")}
RACE_LABELS = tuple(RACE_SETS)
UTKFACE_RACE_LABELS = tuple(RACE_LABELS.index(race) for race in UTKFACE_RACES)  # UTKFace's code -> label index


def race_classes(count: int) -> tuple[str, ...]:
    """The class names of a race head with ``count`` outputs: seven (RACES) or, for older models, UTKFace's five."""
    for classes in (RACES, UTKFACE_RACES):
        if count == len(classes):
            return classes
    raise InputError(f"a race head of {count} classes is neither FairFace's seven nor UTKFace's five")


def race_label_masks() -> np.ndarray:
    """(len(RACE_LABELS), len(RACES)) 0/1: the classes each race label stands for (its row of the targets)."""
    return np.array([[race in RACE_SETS[label] for race in RACES] for label in RACE_LABELS], np.float32)


def to_utkface_races(probabilities: np.ndarray) -> np.ndarray:
    """(N, 7) race probabilities -> (N, 5) of UTKFace's classes, each the mass of its set (Others: Middle Eastern and
    Latino_Hispanic); (N, 5) pass through."""
    probabilities = np.asarray(probabilities)
    if probabilities.shape[-1] == len(UTKFACE_RACES):
        return probabilities
    masks = race_label_masks()[list(UTKFACE_RACE_LABELS)]  # (5, 7)
    return probabilities @ masks.T


def race_label_probability(probabilities: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each row's probability of its race label (RACE_LABELS indices, none MISSING): of the class, or the summed
    probability of its set; a model of UTKFace's five is scored on the labels' UTKFace classes."""
    probabilities = np.asarray(probabilities, np.float64)
    labels = np.asarray(labels)
    if probabilities.shape[1] == len(UTKFACE_RACES):
        return probabilities[np.arange(len(labels)), utkface_race_of(labels)]
    return (probabilities * race_label_masks()[labels]).sum(axis=1)


def race_label_hits(probabilities: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per row (labels none MISSING): is the most probable class the label, or of its set? (For a model of UTKFace's
    five: is it the label's UTKFace class?)"""
    probabilities = np.asarray(probabilities)
    labels = np.asarray(labels)
    chosen = probabilities.argmax(axis=1)
    if probabilities.shape[1] == len(UTKFACE_RACES):
        return chosen == utkface_race_of(labels)
    return race_label_masks()[labels, chosen] > 0


def utkface_race_of(labels: np.ndarray) -> np.ndarray:
    """Race label indices (RACE_LABELS) -> UTKFace's codes 0-4 (East and Southeast Asian -> Asian, Middle Eastern
    and Latino_Hispanic -> Others); MISSING (-1) stays."""
    table = np.array([UTKFACE_RACES.index(next(u for u in UTKFACE_RACES if set(RACE_SETS[label]) <= set(RACE_SETS[u])))
                      for label in RACE_LABELS])
    labels = np.asarray(labels)
    return np.where(labels < 0, -1, table[np.maximum(labels, 0)])


# FairFace's age bins (its CSVs' spelling) as intervals of whole years, inclusive; None: no upper end.
FAIRFACE_AGE_BINS: dict[str, AgeInterval] = {
    "0-2": (0, 2), "3-9": (3, 9), "10-19": (10, 19), "20-29": (20, 29), "30-39": (30, 39), "40-49": (40, 49),
    "50-59": (50, 59), "60-69": (60, 69), "more than 70": (70, None)}
OPEN_END = 130  # the upper age of an interval without one (FairFace's "more than 70")


FAIRFACE_INTERVALS = tuple(FAIRFACE_AGE_BINS.values())


def interval_bin(ages: ArrayLike, intervals: Sequence[AgeInterval] = FAIRFACE_INTERVALS) -> NDArray[np.intp]:
    """Ages (years, rounded to whole years) -> the index of the interval holding them (below the first: 0)."""
    whole = np.floor(np.asarray(ages, np.float64) + 0.5)
    lows = np.array([low for low, _ in intervals])
    return np.maximum(np.searchsorted(lows, whole, side="right") - 1, 0)

# Adience's eight groups; ages in the gaps (3, 7, 14, 21-24, ...) go to the nearest group.
ADIENCE_GROUPS: tuple[AgeInterval, ...] = ((0, 2), (4, 6), (8, 13), (15, 20), (25, 32), (38, 43), (48, 53), (60, None))


@dataclass(frozen=True)
class AgeBins:
    """Age classes ``start, start+step, ...``; the last bin means ``stop`` and over.

    The defaults give 101 one-year bins, 0..100, as in DEX.
    """

    start: int = 0
    stop: int = 100
    step: int = 1

    def __post_init__(self) -> None:
        if self.step < 1 or self.stop <= self.start:
            raise InputError(f"invalid age bins: start={self.start} stop={self.stop} step={self.step}")

    @property
    def count(self) -> int:
        return (self.stop - self.start) // self.step + 1

    @property
    def centres(self) -> NDArray[np.float32]:
        """The age each bin stands for: its middle, and ``stop`` for the open last bin."""
        lower = self.start + self.step * np.arange(self.count, dtype=np.float32)
        centres = lower + (self.step - 1) / 2.0
        centres[-1] = self.stop
        return centres

    def to_bin(self, ages: ArrayLike) -> NDArray[np.int32]:
        """Ages (years) to bin indices, clipped to the first and last bin."""
        ages = np.asarray(ages, dtype=np.float32)
        return np.clip((ages - self.start) // self.step, 0, self.count - 1).astype(np.int32)

    def soft_labels(self, ages: ArrayLike, sigma: float = 0.0) -> NDArray[np.float32]:
        """Target distributions over the bins: one-hot, or a Gaussian of ``sigma`` years around the age.

        A Gaussian target (label distribution learning) tells the model that 31 is closer to 30 than 60 is.
        """
        ages = np.atleast_1d(np.asarray(ages, dtype=np.float32))
        if sigma <= 0:
            return np.eye(self.count, dtype=np.float32)[self.to_bin(ages)]
        clipped = np.clip(ages, self.start, self.stop)
        # Near the ends a full Gaussian would be cut off and its mean pulled inwards (age 1 would train
        # towards 1.8): narrow it there so that the target's expectation stays the age itself.
        room = np.minimum(clipped - self.start, self.stop - clipped)
        widths = np.maximum(np.minimum(sigma, room / 2), 1e-3)[:, None]
        weights = np.exp(-0.5 * ((self.centres[None, :] - clipped[:, None]) / widths) ** 2)
        return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)

    def interval_masks(self, intervals: ArrayLike) -> NDArray[np.float32]:
        """(N, 2) age intervals (lowest, highest; inclusive, years) -> (N, count) 0/1: the bins that overlap each.
        Rows of MISSING (-1) give rows of zeros."""
        intervals = np.asarray(intervals, np.float32).reshape(-1, 2)
        lower = self.start + self.step * np.arange(self.count, dtype=np.float32)
        upper = lower + self.step - 1
        upper[-1] = np.inf  # the last bin is "stop and over"
        masks = (lower[None, :] <= intervals[:, 1:2]) & (upper[None, :] >= intervals[:, 0:1])
        return (masks & (intervals[:, 0:1] >= 0)).astype(np.float32)

    def expected_age(self, probabilities: ArrayLike) -> NDArray[np.float32]:
        """DEX: the expectation of the bin centres under the predicted distribution."""
        return np.asarray(probabilities, dtype=np.float32) @ self.centres

    def to_config(self) -> dict[str, int]:
        return {"start": self.start, "stop": self.stop, "step": self.step}


def age_decade(ages: ArrayLike) -> NDArray[np.int64]:
    """Ages to decade indices 0..9, the last meaning 90 and over: the buckets of the per-decade reports."""
    return np.minimum(np.asarray(ages) // 10, 9).astype(np.int64)


def decade_name(decade: int) -> str:
    return "90+" if decade == 9 else f"{decade * 10}-{decade * 10 + 9}"


def age_group(ages: ArrayLike, groups: Sequence[AgeInterval] = ADIENCE_GROUPS) -> NDArray[np.intp]:
    """Ages (years) to indices into ``groups``; an age between two groups goes to the nearer one."""
    ages = np.atleast_1d(np.asarray(ages, dtype=np.float32))
    lows = np.array([lo for lo, _ in groups], dtype=np.float32)
    highs = np.array([np.inf if hi is None else hi for _, hi in groups], dtype=np.float32)
    # Distance to each group's interval is 0 inside it, else the gap to its nearer edge.
    distance = np.maximum(lows[None, :] - ages[:, None], 0) + np.maximum(ages[:, None] - highs[None, :], 0)
    return distance.argmin(axis=1)


def age_group_names(groups: Sequence[AgeInterval] = ADIENCE_GROUPS) -> list[str]:
    return [f"{lo}+" if hi is None else f"{lo}-{hi}" for lo, hi in groups]
