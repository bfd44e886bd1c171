"""Models alone and together on UTKFace's fixed test split: each model's probabilities computed once (for the
validation and test splits), then every combination scored with facekit.infer.ensemble (what ``face_train.py --evaluate
M1 M2 ... --ensemble METHOD`` does; ``fitted``: ``--ensemble weighted --ensemble-weights fit``).

    .venv/bin/python -m benchmarks.eval_ensembles --data ../shared/data/utkface/UTKFace \\
        --model face_weights/default/dlib_resnet_150px.keras face_weights/dlib_frozen/best.keras ...

Prints one markdown row per model and per combination (mean; fitted: weights fitted per head on the validation
split; and vote for three or more models), then the fitted weights.
"""
import argparse
import itertools
import time
from pathlib import Path

from facekit.data.datasets import read_dataset
from facekit.data.samples import split
from facekit.infer.ensemble import combine, fit_weights, weights_text
from facekit.infer.predictors import load_predictor
from facekit.infer.scoring import compute_metrics, split_probabilities
from facekit.infer.tta import TTA


def name_of(path):
    """A run's folder name for its best.keras, else the file's own name."""
    path = Path(path)
    return path.parent.name if path.stem == "best" else path.stem


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
    splits = split(read_dataset(args.data))
    val, test = splits["val"], splits["test"]
    val_probs, probs, bins = {}, {}, None
    for path in args.model:
        model = load_predictor(path, tta=args.tta)  # .keras, .tflite or .onnx, as face_train.py --evaluate reads them
        bins = model.age_bins
        started = time.time()
        val_probs[name_of(path)] = split_probabilities(model, val)
        probs[name_of(path)] = split_probabilities(model, test)
        print(f"{name_of(path)}: {len(val)} validation and {len(test)} test images in {time.time() - started:.0f} s",
              flush=True)
    print("| models | ensemble | age MAE | CS@5 | group exact / 1-off | gender acc | race acc |")
    print("|---|---|---|---|---|---|---|")
    names, fitted = list(probs), {}
    for count in range(1, len(names) + 1):
        for chosen in itertools.combinations(names, count):
            label = " + ".join(chosen)
            if count > 1:
                fitted[label] = fit_weights([val_probs[n] for n in chosen], val, bins)
            methods = ("-",) if count == 1 else ("mean", "fitted", "vote") if count >= 3 else ("mean", "fitted")
            members = [probs[n] for n in chosen]
            for method in methods:
                combined = (combine(members, "weighted", fitted[label]) if method == "fitted"
                            else combine(members, "mean" if method == "-" else method))
                print(row(f"{label} | {method}", compute_metrics(test, combined, bins)), flush=True)
    print(f"\nweights fitted on the validation split ({len(val)} images), in the order of the models:")
    for label, weights in fitted.items():
        print(f"- {label}: {weights_text(weights)}")


if __name__ == "__main__":
    main()
