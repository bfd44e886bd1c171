"""Label vocabularies: one-year age bins (DEX), coarse age groups for reporting, gender and race names."""
from dataclasses import dataclass

import numpy as np

from facekit.core.errors import InputError

GENDERS = ("male", "female")  # UTKFace: 0 male, 1 female
RACES = ("White", "Black", "Asian", "Indian", "Others")  # UTKFace's order

# Adience's eight groups; ages in the gaps (3, 7, 14, 21-24, ...) go to the nearest group.
ADIENCE_GROUPS = ((0, 2), (4, 6), (8, 13), (15, 20), (25, 32), (38, 43), (48, 53), (60, None))


@dataclass(frozen=True)
class AgeBins:
    """Age classes ``start, start+step, ...``; the last bin means ``stop`` and over.

    The defaults give 101 one-year bins, 0..100, as in DEX.
    """

    start: int = 0
    stop: int = 100
    step: int = 1

    def __post_init__(self):
        if self.step < 1 or self.stop <= self.start:
            raise InputError(f"invalid age bins: start={self.start} stop={self.stop} step={self.step}")

    @property
    def count(self):
        return (self.stop - self.start) // self.step + 1

    @property
    def centres(self):
        """The age each bin stands for: its middle, and ``stop`` for the open last bin."""
        lower = self.start + self.step * np.arange(self.count, dtype=np.float32)
        centres = lower + (self.step - 1) / 2.0
        centres[-1] = self.stop
        return centres

    def to_bin(self, ages):
        """Ages (years) to bin indices, clipped to the first and last bin."""
        ages = np.asarray(ages, dtype=np.float32)
        return np.clip((ages - self.start) // self.step, 0, self.count - 1).astype(np.int32)

    def soft_labels(self, ages, sigma=0.0):
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

    def expected_age(self, probabilities):
        """DEX: the expectation of the bin centres under the predicted distribution."""
        return np.asarray(probabilities, dtype=np.float32) @ self.centres

    def to_config(self):
        return {"start": self.start, "stop": self.stop, "step": self.step}


def age_decade(ages):
    """Ages to decade indices 0..9, the last meaning 90 and over: the buckets of the per-decade reports."""
    return np.minimum(np.asarray(ages) // 10, 9).astype(np.int64)


def decade_name(decade):
    return "90+" if decade == 9 else f"{decade * 10}-{decade * 10 + 9}"


def age_group(ages, groups=ADIENCE_GROUPS):
    """Ages (years) to indices into ``groups``; an age between two groups goes to the nearer one."""
    ages = np.atleast_1d(np.asarray(ages, dtype=np.float32))
    lows = np.array([lo for lo, _ in groups], dtype=np.float32)
    highs = np.array([np.inf if hi is None else hi for _, hi in groups], dtype=np.float32)
    # Distance to each group's interval is 0 inside it, else the gap to its nearer edge.
    distance = np.maximum(lows[None, :] - ages[:, None], 0) + np.maximum(ages[:, None] - highs[None, :], 0)
    return distance.argmin(axis=1)


def age_group_names(groups=ADIENCE_GROUPS):
    return [f"{lo}+" if hi is None else f"{lo}-{hi}" for lo, hi in groups]
