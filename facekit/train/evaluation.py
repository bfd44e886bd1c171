"""The published evaluation protocol: metrics on the fixed test split, and plots to look at."""
import json
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure  # not pyplot: no backend to choose, no global figure state
from tqdm import tqdm

from facekit.backbones.model import age_bins_of, load_model
from facekit.core.errors import FaceKitError
from facekit.core.labels import GENDERS, RACES, age_decade, age_group, age_group_names, decade_name
from facekit.core.outputs import check_output, check_replaceable, replacing, write_text
from facekit.data.datasets import dataset_reader, read_dataset
from facekit.data.samples import MISSING, require_some_label, split
from facekit.infer.ensemble import (
    check_fit_count,
    combine,
    ensemble_weights,
    fit_weights,
    shared_age_bins,
    weights_text,
)
from facekit.infer.predictors import predict_batches
from facekit.infer.tta import check_tta, probabilities_with
from facekit.train.pipeline import image_batches


def compute_metrics(samples, probs, age_bins):
    """The metrics of metrics.json, plus breakdowns that show who the model fails; each head is scored on the
    images that have its label, and a head no image has a label for is left out."""
    require_some_label(samples, "evaluation")
    metrics = {"n_test": int(len(samples))}
    heads = samples.labelled_heads()
    if len(heads) < 3:
        metrics["heads"] = heads
    gender_ok = probs["gender"].argmax(1) == samples.genders
    if "age" in heads:
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
    if "race" in heads:
        known = samples.races != MISSING
        race_ok = probs["race"].argmax(1) == samples.races
        metrics.update({**_count("n_race", known), "race_acc": round(float(race_ok[known].mean()), 4)})
    if "age" in heads:
        metrics["age_mae_by_decade"] = {decade_name(d): round(float(error[decades == d].mean()), 2)
                                        for d in range(10) if (decades == d).any()}
    if "gender" in heads:
        metrics["gender_acc_by_gender"] = {g: round(float(gender_ok[samples.genders == i].mean()), 4)
                                           for i, g in enumerate(GENDERS) if (samples.genders == i).any()}
        if "race" in heads:
            metrics["gender_acc_by_race"] = {
                r: round(float(gender_ok[(samples.races == i) & (samples.genders != MISSING)].mean()), 4)
                for i, r in enumerate(RACES) if ((samples.races == i) & (samples.genders != MISSING)).any()}
    return metrics


def _count(name, known):
    """{name: images with the label}, only when some image of the split lacks it."""
    return {} if known.all() else {name: int(known.sum())}


def confusion(true, pred, n):
    matrix = np.zeros((n, n), np.int64)
    np.add.at(matrix, (true, pred), 1)
    return matrix


PLOTS = ("confusion_gender.png", "confusion_race.png", "confusion_age_group.png", "age_mae_by_decade.png")


def _save_figure(fig, path):
    with replacing(path) as partial:
        fig.savefig(partial, dpi=100)


def save_plots(samples, probs, age_bins, folder):
    """Confusion matrices (gender, race, age groups) and MAE per age decade, as PNG files, over the images with
    the label; a plot whose label no image has is not drawn."""
    folder = Path(folder)
    ages = age_bins.expected_age(probs["age"])
    tables = {
        PLOTS[0]: (samples.genders, probs["gender"].argmax(1), GENDERS),
        PLOTS[1]: (samples.races, probs["race"].argmax(1), RACES),
        PLOTS[2]: (np.where(samples.ages == MISSING, MISSING, age_group(samples.ages)), age_group(ages),
                   age_group_names()),
    }
    written = []
    for name, (true, pred, labels) in tables.items():
        known = true != MISSING
        if not known.any():
            continue
        true, pred = true[known], pred[known]
        matrix = confusion(true, pred, len(labels))
        share = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
        fig = Figure(figsize=(1.1 * len(labels) + 2, 1.0 * len(labels) + 1.5))
        ax = fig.subplots()
        ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
        for (i, j), count in np.ndenumerate(matrix):
            ax.text(j, i, f"{count}\n{share[i, j]:.0%}", ha="center", va="center", fontsize=8,
                    color="white" if share[i, j] > 0.5 else "black")
        ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
        ax.set_yticks(range(len(labels)), labels)
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


def split_probabilities(model, samples, batch_size=64, tta="none"):
    """``{"age", "gender", "race"}`` probabilities of a Keras model for the samples' images, in order."""
    batches = image_batches(samples, model.input_shape[1], batch_size)
    return predict_batches(lambda batch: probabilities_with(model.predict_on_batch, batch, tta),
                           tqdm(batches, total=len(batches), desc="evaluating", unit="batch"))


def evaluate(model, samples, output_json, data, limit=None, batch_size=64, tta="none", ensemble="mean",
             weights=None, about=None):
    """Writes metrics JSON and plots beside it; returns the metrics. ``data`` and ``limit``: where the samples come
    from (the test split of ``data``, of its first ``limit`` images), recorded in the metrics; ``tta``: test-time
    augmentation (facekit.infer.tta), recorded when used. ``model`` may be a list of models: their probabilities are
    combined by ``ensemble`` (facekit.infer.ensemble, with ``weights``). ``about``: more fields to record."""
    models = list(model) if isinstance(model, (list, tuple)) else [model]
    ensemble_weights(len(models), ensemble, weights)  # a bad method or weights fail before the slow part
    bins = shared_age_bins([age_bins_of(m) for m in models])
    output_json = Path(output_json)
    output_json.parent.mkdir(parents=True, exist_ok=True)
    probs = combine([split_probabilities(m, samples, batch_size, tta) for m in models], ensemble, weights)
    metrics = {"data": str(Path(data).resolve()), "limit": limit, "split": "test",
               **({"tta": tta} if tta != "none" else {}), **(about or {}), **compute_metrics(samples, probs, bins)}
    write_text(output_json, json.dumps(metrics, indent=2))
    save_plots(samples, probs, bins, output_json.parent)
    return metrics


def check_ensemble(count, ensemble, weights):
    """A bad method or weights, before the slow part; ``weights="fit"``: the method and model count a fit needs."""
    if not isinstance(weights, str):
        ensemble_weights(count, ensemble, weights)
    elif weights != "fit" or ensemble != "weighted":
        raise FaceKitError(f"ensemble weights '{weights}': fitted weights are --ensemble weighted --ensemble-weights "
                           "fit")
    else:
        check_fit_count(count)


def fitted_weights(models, samples, tta="none", log=print):
    """Per-head ensemble weights fitted on ``samples`` (the validation split; facekit.infer.ensemble.fit_weights), told
    as ``--ensemble-weights`` takes them."""
    if not len(samples):
        raise FaceKitError("no validation images to fit the ensemble weights on (a larger --limit gives some)")
    bins = shared_age_bins([age_bins_of(m) for m in models])
    probs = [split_probabilities(model, samples, tta=tta) for model in models]
    weights = fit_weights(probs, samples, bins)
    log(f"weights fitted on the validation split ({len(samples)} images): --ensemble-weights {weights_text(weights)}")
    return weights


def _rounded(normalised):
    if isinstance(normalised, dict):
        return {head: _rounded(values) for head, values in normalised.items()}
    return normalised.round(4).tolist()


def evaluate_saved(model_path, data, output=None, limit=None, overwrite=False, log=print, tta="none",
                   ensemble="mean", weights=None, **data_options):
    """``--evaluate``: a saved model, or several combined (``model_path`` a list; ``ensemble``, ``weights``), on
    the same fixed test split; metrics JSON and plots at ``output``. ``weights="fit"``: per-head weights fitted on
    the validation split first (``fitted_weights``), recorded with the metrics.

    Checked before anything is loaded: the output is not a model, and neither it nor the plots beside it exist
    unless ``overwrite``."""
    check_tta(tta)
    model_paths = [Path(p) for p in (model_path if isinstance(model_path, (list, tuple)) else [model_path])]
    check_ensemble(len(model_paths), ensemble, weights)
    if len(model_paths) > 1 and output is None:
        raise FaceKitError("--evaluate with several models needs --output (where the ensemble's metrics go)")
    dataset_reader(data, **data_options)  # a --data that is not a dataset fails before the model loads
    output = Path(output) if output else model_paths[0].parent / "evaluation" / "metrics.json"
    check_output(output, "--output", inputs=model_paths, overwrite=overwrite)
    for plot in PLOTS:
        check_replaceable(output.parent / plot, "--output", inputs=model_paths, overwrite=overwrite)
    models = [load_model(p) for p in model_paths]
    samples = read_dataset(data, log=log, **data_options)
    splits = split(samples, limit=limit)
    if not len(splits["test"]):
        raise FaceKitError(f"the test split of {data} is empty ({min(len(samples), limit or len(samples))} usable "
                           "image(s); the fixed split puts about a fifth of them there): evaluate on more images")
    fit = isinstance(weights, str)  # "fit", as check_ensemble made sure
    if fit:
        weights = fitted_weights(models, splits["val"], tta, log)
    about = {} if len(models) == 1 else {
        "models": [str(p) for p in model_paths], "ensemble": ensemble,
        **({"weights": _rounded(ensemble_weights(len(models), ensemble, weights))} if weights is not None else {}),
        **({"weights_fitted_on": {"split": "val", "n_val": len(splits["val"])}} if fit else {})}
    metrics = evaluate(models, splits["test"], output, data, limit, tta=tta, ensemble=ensemble, weights=weights,
                       about=about)
    log(json.dumps({k: v for k, v in metrics.items() if not isinstance(v, dict)}))
    log(f"wrote {output} and plots beside it")
    return metrics
