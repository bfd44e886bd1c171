"""Models alone and together on UTKFace's fixed test split: each model's probabilities computed once, then every
combination scored with facekit.ensemble (what ``face_train.py --evaluate M1 M2 ... --ensemble METHOD`` does).

    .venv/bin/python -m benchmarks.eval_ensembles --data ../shared/data/utkface/UTKFace \\
        --model face_weights/default/simple_cnn_80px.keras face_weights/dlib_frozen/best.keras ...

Prints one markdown row per model and per combination (mean; and vote for three or more models).
"""
import argparse
import itertools
import time
from pathlib import Path

from facekit.data import split
from facekit.datasets import read_dataset
from facekit.ensemble import combine
from facekit.evaluation import compute_metrics, split_probabilities
from facekit.model import age_bins_of, load_model
from facekit.tta import TTA


def name_of(path):
    path = Path(path)
    return path.stem if path.parent.name == "default" else path.parent.name


def row(label, metrics):
    return (f"| {label} | {metrics['age_mae']:.3f} | {100 * metrics['age_cs5']:.2f} % | "
            f"{100 * metrics['age_group_exact']:.2f} % / {100 * metrics['age_group_1off']:.2f} % | "
            f"{100 * metrics['gender_acc']:.2f} % | {100 * metrics['race_acc']:.2f} % |")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--model", nargs="+", required=True)
    parser.add_argument("--tta", choices=TTA, default="none")
    args = parser.parse_args()
    test = split(read_dataset(args.data, log=lambda message: None))["test"]
    probs, bins = {}, None
    for path in args.model:
        model = load_model(path)
        bins = age_bins_of(model)
        started = time.time()
        probs[name_of(path)] = split_probabilities(model, test, tta=args.tta)
        print(f"{name_of(path)}: {len(test)} test images in {time.time() - started:.0f} s", flush=True)
    print("| models | ensemble | age MAE | CS@5 | group exact / 1-off | gender acc | race acc |")
    print("|---|---|---|---|---|---|---|")
    names = list(probs)
    for count in range(1, len(names) + 1):
        for chosen in itertools.combinations(names, count):
            methods = ("-",) if count == 1 else ("mean", "vote") if count >= 3 else ("mean",)
            for method in methods:
                combined = combine([probs[n] for n in chosen], "mean" if method == "-" else method)
                print(row(f"{' + '.join(chosen)} | {method}", compute_metrics(test, combined, bins)), flush=True)


if __name__ == "__main__":
    main()
