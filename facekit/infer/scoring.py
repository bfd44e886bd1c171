"""Scoring saved models on a labelled test split, without TensorFlow: the metrics of metrics.json (with breakdowns
that show whom a model fails), confusion-matrix and per-decade plots, ensembles' fitted weights, and
``face_train.py evaluate`` (``evaluate_saved``). A model of any runtime goes through its predictor
(facekit.infer.predictors): a ``.tflite`` or ``.onnx`` evaluates in the light install, and only a ``.keras`` loads
Keras. The plots need Matplotlib (the train extra); without it the metrics are written and the plots left out."""
import importlib.util
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeAlias, cast

import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

from facekit.core.errors import FaceKitError
from facekit.core.labels import (
    FAIRFACE_AGE_BINS,
    GENDERS,
    RACE_LABELS,
    UTKFACE_RACES,
    AgeBins,
    age_decade,
    age_group,
    age_group_names,
    decade_name,
    interval_bin,
    race_classes,
    race_label_hits,
    to_utkface_races,
    utkface_race_of,
)
from facekit.core.outputs import check_output, check_replaceable, replacing, write_text
from facekit.data.samples import MISSING, Samples, require_some_label
from facekit.data.sources import check_sources, read_splits, sources_of
from facekit.infer.ensemble import check_fit_count, ensemble_weights, fit_weights, shared_age_bins, weights_text
from facekit.infer.predictors import EnsemblePredictor, ModelSource, Predictor, load_predictor
from facekit.infer.tta import check_tta

logger = logging.getLogger(__name__)

HeadProbabilities: TypeAlias = dict[str, NDArray[Any]]  # {"age", "gender", "race"} -> (N, classes)
Model: TypeAlias = Predictor | ModelSource  # a predictor, or what load_predictor takes
PerModel: TypeAlias = Sequence[float] | NDArray[Any]
Weights: TypeAlias = PerModel | Mapping[str, PerModel]  # ensemble weights: per model, or {head: per model}


def compute_metrics(samples: Samples, probs: HeadProbabilities, age_bins: AgeBins,
                    source_names: Sequence[str] | None = None) -> dict[str, Any]:
    """The metrics of metrics.json, plus breakdowns that show who the model fails; each head is scored on the
    images that have its label, and a head no image has a label for is left out. ``source_names``: with samples of
    several sources, the same metrics for each under ``by_source``."""
    require_some_label(samples, "evaluation")
    metrics: dict[str, Any] = {"n_test": int(len(samples))}
    if source_names is not None and samples.sources is not None and len(source_names) > 1:
        metrics["by_source"] = {
            name: compute_metrics(samples.subset(samples.sources == i), {k: v[samples.sources == i]
                                                                         for k, v in probs.items()}, age_bins)
            for i, name in enumerate(source_names) if (samples.sources == i).any()}
    heads = samples.labelled_heads()
    if len(heads) < 3:
        metrics["heads"] = heads
    gender_ok = probs["gender"].argmax(1) == samples.genders
    exact_ages = bool((samples.ages != MISSING).any())  # FairFace's have bins (intervals) instead
    if exact_ages:
        known = samples.ages != MISSING
        true_ages = samples.ages[known]
        ages = age_bins.expected_age(probs["age"][known])
        error = np.abs(ages - true_ages)
        true_group, pred_group = age_group(true_ages), age_group(ages)
        decades = age_decade(true_ages)
        metrics.update({
            **_count("n_age", known),
            "age_mae": round(float(error.mean()), 3),
            "age_cs5": round(float((error <= 5).mean()), 4),
            "age_group_exact": round(float((true_group == pred_group).mean()), 4),
            "age_group_1off": round(float((np.abs(true_group - pred_group) <= 1).mean()), 4)})
    if "gender" in heads:
        known = samples.genders != MISSING
        metrics.update({**_count("n_gender", known), "gender_acc": round(float(gender_ok[known].mean()), 4)})
    intervals = samples.intervals[:, 0] != MISSING
    if intervals.any():  # FairFace's bins: the predicted age (to the year) in the label's bin, or the next one
        true_bin = interval_bin(samples.intervals[intervals, 0])
        off = np.abs(interval_bin(age_bins.expected_age(probs["age"][intervals])) - true_bin)
        metrics.update({"n_age_bin": int(intervals.sum()), "age_bin_exact": round(float((off == 0).mean()), 4),
                        "age_bin_1off": round(float((off <= 1).mean()), 4)})
    if "race" in heads:
        known = samples.races != MISSING
        race_ok = race_label_hits(probs["race"][known], samples.races[known])
        five_ok = to_utkface_races(probs["race"][known]).argmax(1) == utkface_race_of(samples.races[known])
        metrics.update({**_count("n_race", known), "race_acc": round(float(race_ok.mean()), 4),
                        "race_acc_utkface5": round(float(five_ok.mean()), 4)})
    if exact_ages:
        metrics["age_mae_by_decade"] = {decade_name(d): round(float(error[decades == d].mean()), 2)
                                        for d in range(10) if (decades == d).any()}
    if "gender" in heads:
        metrics["gender_acc_by_gender"] = {g: round(float(gender_ok[samples.genders == i].mean()), 4)
                                           for i, g in enumerate(GENDERS) if (samples.genders == i).any()}
        if "race" in heads:
            metrics["gender_acc_by_race"] = {
                r: round(float(gender_ok[(samples.races == i) & (samples.genders != MISSING)].mean()), 4)
                for i, r in enumerate(RACE_LABELS) if ((samples.races == i) & (samples.genders != MISSING)).any()}
    return metrics


def _count(name: str, known: NDArray[np.bool_]) -> dict[str, int]:
    """{name: images with the label}, only when some image of the split lacks it."""
    return {} if known.all() else {name: int(known.sum())}


def confusion(true: NDArray[Any], pred: NDArray[Any], n: int, columns: int | None = None) -> NDArray[np.int64]:
    """Counts of (true, predicted) pairs: ``n`` rows, ``columns`` (default ``n``) columns."""
    matrix = np.zeros((n, columns or n), np.int64)
    np.add.at(matrix, (true, pred), 1)
    return matrix


PLOTS = ("confusion_gender.png", "confusion_race.png", "confusion_age_group.png", "age_mae_by_decade.png")


def _save_figure(fig: Any, path: Path) -> None:
    with replacing(path) as partial:
        fig.savefig(partial, dpi=100)


def can_plot() -> bool:
    """Whether Matplotlib is installed (the train extra): the plots need it, the metrics do not."""
    return importlib.util.find_spec("matplotlib") is not None


def save_plots(samples: Samples, probs: HeadProbabilities, age_bins: AgeBins, folder: str | Path) -> list[Path]:
    """Confusion matrices (gender, race, age groups) and MAE per age decade, as PNG files, over the images with
    the label; a plot whose label no image has is not drawn. Without Matplotlib none is (a warning says so)."""
    if not can_plot():
        logger.warning("no plots: they need matplotlib, which is not installed: pip install .[train]")
        return []
    from matplotlib.figure import Figure  # not pyplot: no backend to choose, no global figure state

    folder = Path(folder)
    ages = age_bins.expected_age(probs["age"])
    bins = list(FAIRFACE_AGE_BINS)
    # Age: Adience's groups for exact ages; FairFace's bins for interval labels (the predicted age's bin).
    intervals = samples.intervals[:, 0] != MISSING
    age_table = (np.where(samples.ages == MISSING, MISSING, age_group(samples.ages)), age_group(ages),
                 age_group_names(), age_group_names()) if not intervals.any() else \
        (np.where(intervals, interval_bin(np.maximum(samples.intervals[:, 0], 0)), MISSING), interval_bin(ages),
         bins, bins)
    race_names = race_classes(probs["race"].shape[1])
    race_table = (samples.races, probs["race"].argmax(1), RACE_LABELS, race_names) if race_names != UTKFACE_RACES \
        else (utkface_race_of(samples.races), probs["race"].argmax(1), UTKFACE_RACES, UTKFACE_RACES)
    tables = {
        PLOTS[0]: (samples.genders, probs["gender"].argmax(1), GENDERS, GENDERS),
        PLOTS[1]: race_table,
        PLOTS[2]: age_table,
    }
    written: list[Path] = []
    for name, (true, pred, row_names, labels) in tables.items():
        known = true != MISSING
        if not known.any():
            continue
        true, pred = true[known], pred[known]
        matrix = confusion(true, pred, len(row_names), len(labels))
        shown = matrix.sum(axis=1) > 0  # rows of labels the split has (the race sets only where a source gives them)
        matrix, rows = matrix[shown], [r for r, keep in zip(row_names, shown) if keep]
        share = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
        fig = Figure(figsize=(1.1 * len(labels) + 2, 1.0 * len(rows) + 1.5))
        ax = fig.subplots()
        ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
        for (i, j), count in np.ndenumerate(matrix):
            ax.text(j, i, f"{count}\n{share[i, j]:.0%}", ha="center", va="center", fontsize=8,
                    color="white" if share[i, j] > 0.5 else "black")
        ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
        ax.set_yticks(range(len(rows)), rows)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(name[len("confusion_"):-4].replace("_", " ") + f" (n={len(true)})")
        fig.tight_layout()
        _save_figure(fig, folder / name)
        written.append(folder / name)

    known = samples.ages != MISSING
    if not known.any():
        return written
    decades = age_decade(samples.ages[known])
    present = [d for d in range(10) if (decades == d).any()]
    error = np.abs(ages[known] - samples.ages[known])
    fig = Figure(figsize=(7, 3.5))
    ax = fig.subplots()
    ax.bar([decade_name(d) for d in present], [error[decades == d].mean() for d in present])
    ax.axhline(error.mean(), color="black", linestyle="--", label=f"overall {error.mean():.2f}")
    ax.set_ylabel("age MAE (years)")
    ax.set_title("Age error per decade")
    ax.legend()
    fig.tight_layout()
    _save_figure(fig, folder / PLOTS[3])
    return written + [folder / PLOTS[3]]


def as_predictor(model: Model, tta: str = "none") -> Predictor:
    """A predictor (facekit.infer.predictors) as it is, or what ``load_predictor`` takes (a model file of any
    runtime, a Keras model already loaded) -> its predictor, with ``tta``."""
    return model if isinstance(model, Predictor) else load_predictor(model, tta=tta)


def split_probabilities(model: Model, samples: Samples, batch_size: int = 64, tta: str = "none",
                        task: str = "evaluating") -> HeadProbabilities:
    """``{"age", "gender", "race"}`` probabilities of a model (``as_predictor``) for the samples' images, in order:
    read and resized as the predictor reads crops (``Predictor.file_probabilities``)."""
    def progress(batches: Any, *, total: int) -> Any:  # one bar a model, named by what the predictions are for
        return tqdm(batches, total=total, desc=task, unit="batch")

    return as_predictor(model, tta).file_probabilities(samples.paths, batch_size, progress=progress)


def evaluate(model: Model | Sequence[Model], samples: Samples, output_json: str | Path,
             data: str | Path | Sequence[str | Path], limit: int | None = None, batch_size: int = 64,
             tta: str = "none", ensemble: str = "mean", weights: Weights | None = None,
             about: Mapping[str, Any] | None = None, source_names: Sequence[str] | None = None) -> dict[str, Any]:
    """Writes metrics JSON and plots beside it; returns the metrics. ``model``: a predictor, or what
    ``load_predictor`` takes (a model file of any runtime, a Keras model); a list of them: an ensemble, their
    probabilities combined by ``ensemble`` (facekit.infer.ensemble, with ``weights``). ``data`` and ``limit``:
    where the samples come from (the test split of ``data``, of its first ``limit`` images), recorded in the
    metrics; ``tta``: test-time augmentation (facekit.infer.tta) of models not yet loaded, recorded when used.
    ``about``: more fields to record."""
    models = list(cast(Sequence[Model], model)) if isinstance(model, (list, tuple)) else [cast(Model, model)]
    ensemble_weights(len(models), ensemble, weights)  # a bad method or weights fail before the slow part
    predictors = [as_predictor(m, tta) for m in models]
    predictor = predictors[0] if len(predictors) == 1 and weights is None else \
        EnsemblePredictor(predictors, ensemble, weights)
    output_json = Path(output_json)
    output_json.parent.mkdir(parents=True, exist_ok=True)
    probs = split_probabilities(predictor, samples, batch_size)
    resolved = [str(Path(d).resolve()) for d in ([data] if isinstance(data, (str, Path)) else data)]
    metrics = {"data": resolved[0] if len(resolved) == 1 else resolved, "limit": limit,
               "split": "test", **({"tta": tta} if tta != "none" else {}), **(about or {}),
               **compute_metrics(samples, probs, predictor.age_bins, source_names)}
    write_text(output_json, json.dumps(metrics, indent=2))
    save_plots(samples, probs, predictor.age_bins, output_json.parent)
    return metrics


def check_ensemble(count: int, ensemble: str, weights: Weights | str | None) -> None:
    """A bad method or weights, before the slow part; ``weights="fit"``: the method and model count a fit needs."""
    if not isinstance(weights, str):
        ensemble_weights(count, ensemble, weights)
    elif weights != "fit" or ensemble != "weighted":
        raise FaceKitError(f"ensemble weights '{weights}': fitted weights are --ensemble weighted --ensemble-weights "
                           "fit")
    else:
        check_fit_count(count)


def fitted_weights(models: Sequence[Model], samples: Samples, tta: str = "none") -> dict[str, NDArray[Any]]:
    """Per-head ensemble weights fitted on ``samples`` (the validation split; facekit.infer.ensemble.fit_weights), told
    as ``--ensemble-weights`` takes them. ``models``: predictors, or what ``load_predictor`` takes."""
    if not len(samples):
        raise FaceKitError("no validation images to fit the ensemble weights on (a larger --limit gives some)")
    predictors = [as_predictor(m, tta) for m in models]
    bins = shared_age_bins([p.age_bins for p in predictors])
    probs = [split_probabilities(p, samples) for p in predictors]
    weights = fit_weights(probs, samples, bins)
    logger.info(f"weights fitted on the validation split ({len(samples)} images): "
                f"--ensemble-weights {weights_text(weights)}")
    return weights


def _rounded(normalised: Any) -> Any:
    if isinstance(normalised, dict):
        return {head: _rounded(values) for head, values in normalised.items()}
    return normalised.round(4).tolist()


def evaluate_saved(model_path: str | Path | Sequence[str | Path], data: str | Sequence[str],
                   output: str | Path | None = None, limit: int | None = None, overwrite: bool = False,
                   tta: str = "none", ensemble: str = "mean", weights: Weights | str | None = None,
                   crop: Sequence[str] | None = None, **data_options: Any) -> dict[str, Any]:
    """``face_train.py evaluate``: a saved model (``.keras``, ``.tflite`` or ``.onnx``, through ``load_predictor``),
    or several combined (``model_path`` a list; ``ensemble``, ``weights``), on the same fixed test split of ``data``
    (one source or several, ``crop``: facekit.data.sources.sources_of); metrics JSON and plots at ``output``.
    ``weights="fit"``: per-head weights fitted on the validation split first (``fitted_weights``), recorded with the
    metrics.

    Checked before anything is loaded: the output is not a model, and neither it nor the plots beside it exist
    unless ``overwrite``."""
    check_tta(tta)
    model_paths = [Path(p) for p in ([model_path] if isinstance(model_path, (str, Path)) else model_path)]
    check_ensemble(len(model_paths), ensemble, weights)
    if len(model_paths) > 1 and output is None:
        raise FaceKitError("evaluating several models needs --output (where the ensemble's metrics go)")
    sources = sources_of(data, crop)
    check_sources(sources, **data_options)  # a --data that is not a dataset fails before the model loads
    output = Path(output) if output else model_paths[0].parent / "evaluation" / "metrics.json"
    check_output(output, "--output", inputs=model_paths, overwrite=overwrite)
    for plot in PLOTS if can_plot() else ():
        check_replaceable(output.parent / plot, "--output", inputs=model_paths, overwrite=overwrite)
    models = [load_predictor(p, tta=tta) for p in model_paths]
    splits, _, _ = read_splits(sources, limit=limit, **data_options)
    if not len(splits["test"]):
        raise FaceKitError(f"the test split of {', '.join(s.data for s in sources)} is empty: the fixed split puts "
                           "about a fifth of the images there; evaluate on more images")
    fit = isinstance(weights, str)  # "fit", as check_ensemble made sure
    given = cast(Weights | None, fitted_weights(models, splits["val"]) if fit else weights)
    about = {} if len(models) == 1 else {
        "models": [str(p) for p in model_paths], "ensemble": ensemble,
        **({"weights": _rounded(ensemble_weights(len(models), ensemble, given))} if given is not None else {}),
        **({"weights_fitted_on": {"split": "val", "n_val": len(splits["val"])}} if fit else {})}
    metrics = evaluate(models, splits["test"], output, [s.data for s in sources], limit, tta=tta, ensemble=ensemble,
                       weights=given, about=about, source_names=[s.name for s in sources])
    logger.info(json.dumps({k: v for k, v in metrics.items() if not isinstance(v, dict)}))
    logger.info(f"wrote {output}" + (" and plots beside it" if can_plot() else ""))
    return metrics
