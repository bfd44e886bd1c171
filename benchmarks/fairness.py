"""Who the model fails: gender accuracy and age error (MAE and mean signed error) by source x sex x age band, and by
race on UTKFace, for one or more models, on each source's fixed test (or validation) part.

    .venv/bin/python -m benchmarks.fairness face_weights/default/dlib_resnet_150px.tflite [OTHER_MODEL ...] \
        [--utkface ../shared/data/utkface/UTKFace] [--aaf ../shared/data/aaf/labels.csv] [--split test]
    # FairFace's val/ as the demos see it: score what face_demo.py wrote (largest face per photo)
    .venv/bin/python face_demo.py train_data/fairface/val --no-annotate --jsonl val_default.jsonl
    .venv/bin/python -m benchmarks.fairness --fairface default=val_default.jsonl [other=val_other.jsonl ...] \
        [--fairface-labels train_data/fairface/fairface_label_val.csv]

Any model file the demos take (.tflite, .onnx, .keras); ``A.keras+B.keras``: the mean of several (an ensemble, as
``--ensemble mean``). ``--split train`` shows how well the models fit the images they were trained on. UTKFace's
faces are used as they are; All-Age-Faces' are cropped by the demos' detector and crop (facekit.data.crop_cache), as
training crops them. Prints Markdown tables and the issue's targets, met or not.
"""
import argparse
import csv
import json
import math
from pathlib import Path

import numpy as np
from tqdm import tqdm

from facekit.core.labels import (
    FAIRFACE_AGE_BINS,
    GENDERS,
    RACE_LABELS,
    RACES,
    UTKFACE_RACES,
    interval_bin,
    race_label_hits,
    to_utkface_races,
    utkface_race_of,
)
from facekit.core.paths import shared_dir
from facekit.data.samples import MISSING
from facekit.data.sources import Source, read_splits
from facekit.infer.predictors import EnsemblePredictor, load_predictor
from facekit.infer.tta import TTA, probabilities_with
from facekit.vision.images import read_image

SHARED = shared_dir()  # ../shared, or FACEKIT_SHARED

BANDS = (("<13", 0, 13), ("13-59", 13, 60), ("60+", 60, 200))


def probabilities(predictor, samples, tta="none", batch=64):
    parts = []
    name = Path(predictor.path).name if predictor.path else "ensemble"
    for start in tqdm(range(0, len(samples), batch), desc=name, unit="batch", leave=False):
        crops = np.stack([read_image(p) for p in samples.paths[start:start + batch]])
        parts.append(probabilities_with(predictor.probabilities, crops, tta))
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def scores(samples, probs, age_bins, mask):
    """n, gender accuracy, age MAE, mean signed age error (predicted - true) over ``mask``."""
    row = {"n": int(mask.sum())}
    if not mask.any():
        return row
    known = mask & (samples.genders != MISSING)
    if known.any():
        row["gender"] = float((probs["gender"].argmax(1)[known] == samples.genders[known]).mean())
    aged = mask & (samples.ages != MISSING)
    if aged.any():
        error = age_bins.expected_age(probs["age"][aged]) - samples.ages[aged]
        row["mae"], row["signed"] = float(np.abs(error).mean()), float(error.mean())
    raced = mask & (samples.races != MISSING)
    if raced.any():  # the label's class, or one of its set (UTKFace's Asian, Others); a five-class model on those
        row["race"] = float(race_label_hits(probs["race"][raced], samples.races[raced]).mean())
    return row


def cell(row, key, percent=False):
    if key not in row:
        return "-"
    return f"{100 * row[key]:.1f} %" if percent else f"{row[key]:+.2f}" if key == "signed" else f"{row[key]:.2f}"


def band_masks(samples):
    for sex, name in enumerate(GENDERS):
        for band, low, high in BANDS:
            yield f"{name} {band}", (samples.genders == sex) & (samples.ages >= low) & (samples.ages < high)


def report(model_name, source_name, samples, probs, age_bins, targets):
    everyone = np.ones(len(samples), bool)
    overall = scores(samples, probs, age_bins, everyone)
    print(f"\n### {model_name} on {source_name} ({overall['n']} faces)\n")
    race = f", race {cell(overall, 'race', True)}" if "race" in overall else ""
    print(f"overall: gender {cell(overall, 'gender', True)}, age MAE {cell(overall, 'mae')} "
          f"(signed {cell(overall, 'signed')}){race}")
    print("\n| group | n | gender | age MAE | mean signed error |\n|---|---|---|---|---|")
    rows = {}
    by_sex = [(name, samples.genders == sex) for sex, name in enumerate(GENDERS)]
    for label, mask in by_sex + list(band_masks(samples)):
        rows[label] = row = scores(samples, probs, age_bins, mask)
        print(f"| {label} | {row['n']} | {cell(row, 'gender', True)} | {cell(row, 'mae')} | {cell(row, 'signed')} |")
    for band, low, high in BANDS:
        rows[band] = scores(samples, probs, age_bins, (samples.ages >= low) & (samples.ages < high))
    if (samples.races != MISSING).any():
        print("\n| race | n | gender | age MAE | mean signed error | race |\n|---|---|---|---|---|---|")
        race_gaps = []
        for index, race in enumerate(RACE_LABELS):
            if not (samples.races == index).any():
                continue
            row = scores(samples, probs, age_bins, samples.races == index)
            race_gaps.append(row["gender"] - overall["gender"])
            print(f"| {race} | {row['n']} | {cell(row, 'gender', True)} | {cell(row, 'mae')} | "
                  f"{cell(row, 'signed')} | {cell(row, 'race', True)} |")
        rows["worst_race_gap"] = min(race_gaps)
        worst = []
        for index, race in enumerate(RACE_LABELS):
            for label, mask in band_masks(samples):
                row = scores(samples, probs, age_bins, mask & (samples.races == index))
                if row["n"] >= 20:
                    worst.append((row["gender"] - overall["gender"], f"{label} {race}", row["n"]))
        gap, group, n = min(worst)
        print(f"\nlowest gender accuracy of a sex x age band x race group (n >= 20): {group} (n={n}), "
              f"{100 * gap:+.1f} points from the overall")
        rows["worst_group_gap"] = gap
    targets(overall, rows)
    return rows


def paired_report(source_name, samples, first, other, age_bins, names):
    """The same faces through two models: per group, the faces whose gender became right (gained) and wrong (lost),
    with McNemar's exact two-sided p (a difference that p > 0.05 cannot tell from chance), and the change in age MAE
    with its 95 % interval (paired). ``first`` and ``other``: their probabilities; ``age_bins``: each one's."""
    print(f"\n#### {names[1]} against {names[0]} on {source_name}, face by face\n")
    print("| group | n | gender gained / lost | McNemar p | age MAE change (95 % interval) |\n|---|---|---|---|---|")
    gender_right = [probs["gender"].argmax(1) == samples.genders for probs in (first, other)]
    age_error = [np.abs(bins.expected_age(probs["age"]) - samples.ages)
                 for probs, bins in zip((first, other), age_bins)]
    groups = [("all", np.ones(len(samples), bool))]
    groups += [(name, samples.genders == sex) for sex, name in enumerate(GENDERS)] + list(band_masks(samples))
    for label, mask in groups:
        known = mask & (samples.genders != MISSING)
        gained = int((~gender_right[0] & gender_right[1] & known).sum())
        lost = int((gender_right[0] & ~gender_right[1] & known).sum())
        changes = gained + lost
        p = min(1.0, 2 * sum(math.comb(changes, k) for k in range(min(gained, lost) + 1)) / 2 ** changes) \
            if changes else 1.0
        aged = mask & (samples.ages != MISSING)
        delta = age_error[1][aged] - age_error[0][aged]
        half = 1.96 * delta.std(ddof=1) / np.sqrt(len(delta)) if len(delta) > 1 else float("nan")
        print(f"| {label} | {int(mask.sum())} | +{gained} / -{lost} | {p:.2f} | {delta.mean():+.2f} "
              f"({delta.mean() - half:+.2f} to {delta.mean() + half:+.2f}) |")


def print_targets(checks):
    """``checks``: (name, value, ">=" or "<=", limit), printed with met or NOT met."""
    def met(value, op, limit):
        return value >= limit if op == ">=" else value <= limit

    print("targets: " + ", ".join(f"{name} {value:.3f} {op} {limit} {'met' if met(value, op, limit) else 'NOT met'}"
                                  for name, value, op, limit in checks))


def utkface_targets(overall, rows):
    print_targets([("MAE", overall["mae"], "<=", 4.40), ("gender", overall["gender"], ">=", 0.95),
                   ("race", overall["race"], ">=", 0.88),
                   ("lowest race's gender gap", rows["worst_race_gap"], ">=", -0.04)])


def aaf_targets(overall, rows):
    print_targets([("gender", overall["gender"], ">=", 0.96), ("male gender", rows["male"]["gender"], ">=", 0.95),
                   ("female gender", rows["female"]["gender"], ">=", 0.95),
                   ("<13 gender", rows["<13"]["gender"], ">=", 0.85), ("MAE", overall["mae"], "<=", 4.5),
                   ("60+ MAE", rows["60+"]["mae"], "<=", 6.0),
                   ("male |signed|", abs(rows["male"]["signed"]), "<=", 1.0),
                   ("female |signed|", abs(rows["female"]["signed"]), "<=", 1.0)])


def fairface_faces(jsonl, labels_csv):
    """(labels {file: (age bin, gender, race)}, found {file: the largest face's JSON entry}) of face_demo.py's JSON
    Lines for FairFace's images, matched by the path's last two parts (val/N.jpg)."""
    with open(labels_csv, newline="") as f:
        labels = {row["file"]: (row["age"], row["gender"].lower(), row["race"]) for row in csv.DictReader(f)}
    found = {}
    with open(jsonl) as lines:
        for line in lines:
            entry = json.loads(line)
            key = "/".join(Path(entry["image"]).parts[-2:])
            faces = entry.get("faces") or []
            if key in labels and faces:
                found[key] = max(faces, key=lambda face: face["box"]["width"] * face["box"]["height"])
    return labels, found


def fairface_report(name, jsonl, labels_csv):
    """FairFace val through the demos: faces found, gender by sex x race x age bin, age-bin accuracy (exact and
    within one bin) by race and sex, race on seven classes (where the model has them) and on UTKFace's five, the race
    confusion; the issue's targets. Scores are over the photos with a face found."""
    labels, found = fairface_faces(jsonl, labels_csv)
    files = [file for file in labels if file in found]
    bins = list(FAIRFACE_AGE_BINS)
    true_bin = np.array([bins.index(labels[f][0]) for f in files])
    true_sex = np.array([GENDERS.index(labels[f][1]) for f in files])
    true_race = np.array([RACES.index(labels[f][2]) for f in files])
    pred_bin = interval_bin([found[f]["age"] for f in files])
    pred_sex = np.array([GENDERS.index(found[f]["gender"]) for f in files])
    race_probs = np.array([list(found[f]["probabilities"]["race"].values()) for f in files])
    seven = race_probs.shape[1] == len(RACES)
    five_true = utkface_race_of(true_race)  # FairFace's classes are RACE_LABELS' first seven
    five_pred = to_utkface_races(race_probs).argmax(1)
    gender_ok, bin_off = pred_sex == true_sex, np.abs(pred_bin - true_bin)
    overall = gender_ok.mean()
    print(f"\n### {name} on FairFace val ({len(labels)} photos, {jsonl})\n")
    print(f"found {100 * len(files) / len(labels):.1f} %; over those: gender {100 * overall:.1f} %, age bin "
          f"{100 * (bin_off == 0).mean():.1f} % (within one bin {100 * (bin_off <= 1).mean():.1f} %), race "
          + (f"{100 * (race_probs.argmax(1) == true_race).mean():.1f} % of 7, " if seven else "")
          + f"{100 * (five_pred == five_true).mean():.1f} % of UTKFace's 5")

    def pct(mask, values):
        return f"{100 * values[mask].mean():.1f}" if mask.any() else "-"

    print("\n| race | n | gender | men | women | age bin | within one bin | race (7) | race (5) |\n"
          "|---|---|---|---|---|---|---|---|---|")
    rows = [("all", np.ones(len(files), bool))] + [(race, true_race == i) for i, race in enumerate(RACES)]
    seven_ok = race_probs.argmax(1) == true_race
    for label, mask in rows:
        print(f"| {label} | {int(mask.sum())} | {pct(mask, gender_ok)} | {pct(mask & (true_sex == 0), gender_ok)} | "
              f"{pct(mask & (true_sex == 1), gender_ok)} | {pct(mask, bin_off == 0)} | {pct(mask, bin_off <= 1)} | "
              f"{pct(mask, seven_ok) if seven else '-'} | {pct(mask, five_pred == five_true)} |")
    print("\n| age bin | n | gender | men | women | age bin | within one bin |\n|---|---|---|---|---|---|---|")
    for index, label in enumerate(bins):
        mask = true_bin == index
        print(f"| {label} | {int(mask.sum())} | {pct(mask, gender_ok)} | {pct(mask & (true_sex == 0), gender_ok)} | "
              f"{pct(mask & (true_sex == 1), gender_ok)} | {pct(mask, bin_off == 0)} | {pct(mask, bin_off <= 1)} |")
    groups = []
    for sex, sex_name in enumerate(GENDERS):
        for r, race in enumerate(RACES):
            for b, age in enumerate(bins):
                mask = (true_sex == sex) & (true_race == r) & (true_bin == b)
                if mask.sum() >= 20:
                    groups.append((gender_ok[mask].mean() - overall, f"{sex_name} {race} {age}", int(mask.sum())))
    groups.sort()
    print("\nlowest gender accuracy of a sex x race x age-bin group (n >= 20): "
          + "; ".join(f"{group} (n={n}) {100 * gap:+.1f}" for gap, group, n in groups[:5]))
    classes, predicted = (RACES, race_probs.argmax(1)) if seven else (UTKFACE_RACES, five_pred)
    print("\nrace confusion (rows: FairFace's label; columns: predicted)\n\n| | " + " | ".join(classes) + " |\n"
          + "|---" * (len(classes) + 1) + "|")
    for r, race in enumerate(RACES):
        counts = np.bincount(predicted[true_race == r], minlength=len(classes))
        print(f"| {race} | " + " | ".join(str(c) for c in counts) + " |")
    by_group = {label: gender_ok[mask].mean() for label, mask in rows[1:]}
    by_group.update({sex: gender_ok[true_sex == i].mean() for i, sex in enumerate(GENDERS)})
    print_targets([("found", len(files) / len(labels), ">=", 0.99), ("gender", overall, ">=", 0.95),
                   ("lowest race or sex gender", min(by_group.values()), ">=", 0.93),
                   ("3-9 gender", gender_ok[true_bin == 1].mean(), ">=", 0.85),
                   ("age bin", (bin_off == 0).mean(), ">=", 0.60),
                   ("within one bin", (bin_off <= 1).mean(), ">=", 0.93),
                   *([("race 7", (race_probs.argmax(1) == true_race).mean(), ">=", 0.72)] if seven else []),
                   ("race 5", (five_pred == five_true).mean(), ">=", 0.80),
                   ("lowest sex x race x bin gap", groups[0][0] if groups else 0.0, ">=", -0.04)])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*")
    parser.add_argument("--fairface", action="append", default=[], metavar="NAME=JSONL",
                        help="face_demo.py's JSON Lines for FairFace's val/ images, named for the report")
    parser.add_argument("--fairface-labels", default="train_data/fairface/fairface_label_val.csv")
    parser.add_argument("--utkface", default=str(SHARED / "data" / "utkface" / "UTKFace"))
    parser.add_argument("--aaf", default=str(SHARED / "data" / "aaf" / "labels.csv"))
    parser.add_argument("--split", choices=("train", "val", "test"), default="test")
    parser.add_argument("--tta", choices=TTA, default="none", help="test-time augmentation, as the demos' --tta")
    parser.add_argument("--plot", help="also draw gender accuracy and age MAE by sex x age band, per source and "
                                       "model, into this PNG file")
    args = parser.parse_args()
    for named in args.fairface:
        name, _, jsonl = named.rpartition("=")
        fairface_report(name or jsonl, jsonl, args.fairface_labels)
    if not args.models:
        return
    sources = [(Source(args.utkface), utkface_targets), (Source(args.aaf, crop="detect"), aaf_targets)]
    parts = [(source, read_splits([source])[0][args.split], targets) for source, targets in sources]
    results, outputs = {}, {}
    for model in args.models:
        predictor = load_model_or_ensemble(model)
        for source, samples, targets in parts:
            probs = probabilities(predictor, samples, args.tta)
            outputs[model, source.name] = probs, predictor.age_bins
            results[model, source.name] = report(model_name(model), f"{source.name} {args.split}", samples, probs,
                                                 predictor.age_bins, targets)
    first = args.models[0]
    for model in args.models[1:]:  # each against the first, face by face
        for source, samples, _ in parts:
            (a, bins_a), (b, bins_b) = outputs[first, source.name], outputs[model, source.name]
            paired_report(f"{source.name} {args.split}", samples, a, b, (bins_a, bins_b),
                          (model_name(first), model_name(model)))
    if args.plot:
        plot(results, args.models, [source.name for source, _, _ in parts], args.plot)


def model_name(spec):
    """A run's folder name for its best.keras, else the file's name with its folder's; ensembles joined by " + "."""
    return " + ".join(Path(f).parent.name if Path(f).stem == "best" else str(Path(Path(f).parent.name, Path(f).name))
                      for f in spec.split("+"))


def load_model_or_ensemble(spec):
    """``A`` -> its predictor; ``A+B+...`` -> the mean of theirs."""
    files = spec.split("+")
    return load_predictor(files[0]) if len(files) == 1 else EnsemblePredictor([load_predictor(f) for f in files])


def plot(results, models, source_names, path):
    """Two rows (gender accuracy, age MAE) by one column per source: bars per sex x age band, one colour a model."""
    from matplotlib.figure import Figure
    groups = [f"{sex} {band}" for sex in GENDERS for band, _, _ in BANDS]
    figure = Figure(figsize=(6 * len(source_names), 7))
    axes = figure.subplots(2, len(source_names), squeeze=False)
    width = 0.8 / len(models)
    for column, source in enumerate(source_names):
        for row, (key, label) in enumerate((("gender", "gender accuracy (%)"), ("mae", "age MAE (years)"))):
            ax = axes[row][column]
            for index, model in enumerate(models):
                values = [results[model, source][g].get(key, np.nan) * (100 if key == "gender" else 1) for g in groups]
                ax.bar(np.arange(len(groups)) + index * width, values, width, label=Path(model).parent.name
                       if Path(model).parent.name not in ("", ".") else Path(model).name)
            ax.set_xticks(np.arange(len(groups)) + width * (len(models) - 1) / 2, groups, rotation=30, ha="right")
            ax.set_ylabel(label)
            ax.set_title(f"{source}: {label}")
            if key == "gender":
                ax.set_ylim(60, 100)
        axes[0][column].legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
