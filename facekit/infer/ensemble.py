"""Ensembles: several models' probabilities for the same images, combined into one set.

    mean      the probabilities averaged
    weighted  averaged with the given weights (normalised to sum 1): one per model, or one per model for each head
              (``{"age": [...], "gender": [...], "race": [...]}``, what ``fit_weights`` gives)
    vote      gender and race: each model votes for its most probable class (weighted votes with weights); the
              result is each class's share of the votes, ties broken by the mean probability; age: averaged (the
              age head is a distribution over years, not a class to vote on)
"""
import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, TypeAlias, overload

import numpy as np
from numpy.typing import NDArray

from facekit.core.errors import InputError, ModelError
from facekit.core.labels import AgeBins, race_label_probability, to_utkface_races
from facekit.data.samples import MISSING, Samples
from facekit.infer.model_metadata import HEADS

PerModel: TypeAlias = Sequence[float] | NDArray[Any]  # one weight per model
Weights: TypeAlias = PerModel | Mapping[str, PerModel]  # as ``combine`` takes them: per model, or {head: per model}
Normalised: TypeAlias = NDArray[np.float64] | dict[str, NDArray[np.float64]]  # the same, summing to 1
Parsed: TypeAlias = list[float] | dict[str, list[float]]  # --ensemble-weights, read: per model or per head
HeadProbabilities: TypeAlias = Mapping[str, NDArray[Any]]  # one model's {head: (N, classes)}

METHODS = ("mean", "weighted", "vote")
CLASS_HEADS = ("gender", "race")
FIT_STEPS = 20  # fitted weights are multiples of 1/20: finer steps would fit the validation split's noise
# The grid has C(FIT_STEPS + models - 1, models - 1) points per head: 53,130 for six models, seconds to score.
FIT_MAX_MODELS = 6


@overload
def parse_weights(texts: Iterable[str] | None, fit_allowed: Literal[False] = False) -> Parsed | None: ...


@overload
def parse_weights(texts: Iterable[str] | None, fit_allowed: bool) -> Parsed | Literal["fit"] | None: ...


def parse_weights(texts: Iterable[str] | None, fit_allowed: bool = False) -> Parsed | Literal["fit"] | None:
    """``--ensemble-weights`` as typed -> the ``weights`` of ``combine``: numbers, one per model (``3 1``), or for
    each head a comma-separated list, one per model (``age=0.7,0.3 gender=0.5,0.5 race=0.4,0.6``, as a fit prints
    them); None when not given; ``fit`` where ``fit_allowed``. FaceKitError in one line for anything else."""
    if texts is None:
        return None
    texts = list(texts)
    if fit_allowed and list(texts) == ["fit"]:
        return "fit"
    if not any("=" in text for text in texts):
        return [_number(text) for text in texts]
    per_head: dict[str, list[float]] = {}
    for text in texts:
        head, equals, values = text.partition("=")
        if not equals or head not in HEADS:
            raise InputError(f"--ensemble-weights {text}: give numbers (one per model) or HEAD=W1,W2,... with HEAD "
                               f"one of {', '.join(HEADS)}, not both")
        if head in per_head:
            raise InputError(f"--ensemble-weights {text}: {head} weights are given twice: give each head once")
        per_head[head] = [_number(value) for value in values.split(",")]
    return per_head


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        fit = " (fit goes alone, with face_train.py --evaluate: weights are fitted on labelled images)" \
            if text == "fit" else ""
        raise InputError(f"--ensemble-weights: '{text}' is not a number{fit}") from None


def ensemble_weights(count: int, method: str, weights: Weights | None = None) -> Normalised:
    """Normalised weights for ``count`` models (an array, or ``{head: array}`` for per-head weights); FaceKitError
    in one line when they do not fit the method."""
    if method not in METHODS:
        raise InputError(f"unknown ensemble method '{method}': use one of {', '.join(METHODS)}")
    if method == "weighted" and weights is None:
        raise InputError("--ensemble weighted needs --ensemble-weights, one per model")
    if weights is None:
        return np.full(count, 1.0 / count)
    if isinstance(weights, Mapping):
        if sorted(weights) != sorted(HEADS):
            raise InputError(f"per-head ensemble weights need each of {', '.join(HEADS)}, not {', '.join(weights)}")
        return {head: _normalised(weights[head], count, f"{head} ") for head in HEADS}
    return _normalised(weights, count)


def _normalised(given: PerModel, count: int, head: str = "") -> NDArray[np.float64]:
    try:
        weights = np.asarray(given, np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{head}ensemble weights must be numbers, not {given!r}") from None
    if weights.shape != (count,):
        raise InputError(f"{weights.size} {head}ensemble weight(s) for {count} models: give one per model")
    if not np.isfinite(weights).all():
        raise InputError(f"{head}ensemble weights must be finite numbers, not {weights.tolist()}")
    if (weights < 0).any() or weights.sum() <= 0:
        raise InputError(f"{head}ensemble weights must be 0 or more, and not all 0")
    return weights / weights.sum()


def combine(probabilities: Sequence[HeadProbabilities], method: str = "mean",
            weights: Weights | None = None) -> dict[str, NDArray[Any]]:
    """A list of ``{head: (N, classes)}``, one per model -> one ``{head: (N, classes)}``."""
    if len(probabilities) == 1 and weights is None:
        return dict(probabilities[0])
    normalised = ensemble_weights(len(probabilities), method, weights)
    if len({np.shape(p["race"])[-1] for p in probabilities if "race" in p}) > 1:
        # FairFace's seven race classes beside a model of UTKFace's five: combined on the five (sums of the seven)
        probabilities = [{**p, "race": to_utkface_races(p["race"])} for p in probabilities]
    combined: dict[str, NDArray[Any]] = {}
    for head in probabilities[0]:
        w = normalised[head] if isinstance(normalised, dict) else normalised
        if len({np.shape(p[head]) for p in probabilities}) > 1:
            raise ModelError(f"the models' {head} outputs differ in shape: they cannot be combined")
        stacked = np.stack([np.asarray(p[head], np.float64) for p in probabilities])  # (models, N, classes)
        mean = np.tensordot(w, stacked, axes=1)
        if method == "vote" and head in CLASS_HEADS:
            votes = np.tensordot(w, np.eye(stacked.shape[2])[stacked.argmax(axis=2)], axes=1)
            mean = votes + 1e-6 * mean  # the vote decides; the probabilities only break a tie
            mean /= mean.sum(axis=1, keepdims=True)
        combined[head] = mean.astype(np.float32)
    return combined


def fit_weights(probabilities: Sequence[HeadProbabilities], samples: Samples,
                age_bins: AgeBins) -> dict[str, NDArray[np.float64]]:
    """Per head, the weights of a weighted mean that score best on labelled images (the validation split): the
    point of a grid over all weights (steps of 1/FIT_STEPS, summing to 1) with the lowest log-loss for gender and
    race, and the lowest MAE of the expected age for age (the figure age is judged by; a log-loss would count a
    year off as a miss). ``probabilities``: one ``{head: (N, classes)}`` per model, for the N images of ``samples``
    (facekit.data.samples.Samples: their labels, MISSING where unknown). A head without labels keeps equal weights.
    -> ``{head: weights}``, for ``combine``."""
    count = check_fit_count(len(probabilities))
    grid = _simplex_grid(count, FIT_STEPS)
    fitted: dict[str, NDArray[np.float64]] = {}
    for head, labels in (("age", samples.ages), ("gender", samples.genders), ("race", samples.races)):
        known = labels != MISSING
        if not known.any():
            fitted[head] = np.full(count, 1.0 / count)
            continue
        truth = labels[known]
        if head == "age":  # each model's expected ages; expected_age is linear, so the ensemble's are their mean
            each = np.stack([age_bins.expected_age(p["age"][known]) for p in probabilities])
        elif head == "race":  # each model's probability of the true class, or of the set the label stands for
            each = np.stack([race_label_probability(p["race"][known], truth) for p in probabilities])
        else:  # each model's probability of the true class
            each = np.stack([np.asarray(p[head], np.float64)[known, truth] for p in probabilities])
        # scored a thousand points at a time: all at once would hold points x images numbers
        losses = np.concatenate([_losses(grid[start:start + 1000] @ each, truth, head)
                                 for start in range(0, len(grid), 1000)])
        fitted[head] = _most_even(grid[losses <= losses.min() + 1e-12])
    return fitted


def _most_even(points: NDArray[np.float64]) -> NDArray[np.float64]:
    """Of grid points that score the same (models that agree, or rounding), the one closest to equal weights:
    argmin alone would give all the weight to the last model."""
    return points[((points - 1 / points.shape[1]) ** 2).sum(axis=1).argmin()]


def shared_age_bins(age_bins: Sequence[AgeBins]) -> AgeBins:
    """The models' age bins (one per model), which must be the same for their age probabilities to be combined."""
    if any(bins != age_bins[0] for bins in age_bins[1:]):
        raise ModelError("the models' age bins differ: their age probabilities cannot be combined")
    return age_bins[0]


def check_fit_count(count: int) -> int:
    if not 2 <= count <= FIT_MAX_MODELS:
        raise InputError(f"fitting ensemble weights needs 2 to {FIT_MAX_MODELS} models, not {count}")
    return count


def _losses(mixed: NDArray[np.float64], truth: NDArray[Any], head: str) -> NDArray[np.float64]:
    """Per row of ``mixed`` (a point of the grid's expected ages, or probabilities of the true class): its loss."""
    if head == "age":
        return np.abs(mixed - truth).mean(axis=1)
    return -np.log(np.maximum(mixed, 1e-12)).mean(axis=1)


def _simplex_grid(count: int, steps: int) -> NDArray[np.float64]:
    """Every ``count`` weights that are multiples of 1/steps and sum to 1 (stars and bars: where the bars go)."""
    bars = np.array(list(itertools.combinations_with_replacement(range(steps + 1), count - 1))).reshape(-1, count - 1)
    edges = np.hstack([np.zeros((len(bars), 1)), bars, np.full((len(bars), 1), steps)])
    return np.diff(edges, axis=1) / steps


def weights_text(weights: Mapping[str, PerModel]) -> str:
    """Per-head weights as ``--ensemble-weights`` takes them (``age=0.7,0.3 gender=...``)."""
    return " ".join(f"{head}={','.join(f'{w:g}' for w in np.round(values, 4))}" for head, values in weights.items())
