"""A "model soup": the weighted mean of the weights of fine-tuned models that share an architecture and a starting
point (Wortsman et al., 2022), saved as one .keras model, to score with benchmarks/fairness.py. With two models, a
model and its own fine-tuned descendant, it is WiSE-FT's interpolation (Wortsman et al., CVPR 2022): ``--weights 0.5
0.5`` keeps much of what the fine-tuning gained on the new data and of what the original knew.

    .venv/bin/python -m benchmarks.model_soup OUT.keras A.keras B.keras [...] [--weights WA WB ...]

A five-class race head (a model trained before FairFace) is widened to the seven classes of the others first, with
the same predictions (facekit.train.training.seven_race_head), so a model and its FairFace fine-tuning mix.
"""
import argparse

import numpy as np

from facekit.backbones.model import load_model
from facekit.train.training import seven_race_head


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output")
    parser.add_argument("models", nargs="+")
    parser.add_argument("--weights", type=float, nargs="+", default=None,
                        help="each model's share, in the models' order (default: equal); normalised to sum to 1")
    args = parser.parse_args()
    shares = np.ones(len(args.models)) if args.weights is None else np.asarray(args.weights, float)
    if len(shares) != len(args.models) or (shares < 0).any() or shares.sum() <= 0:
        raise SystemExit("error: --weights takes one share of 0 or more per model, not all 0")
    shares = shares / shares.sum()
    models = [load_model(path) for path in args.models]
    target = max(models, key=lambda model: model.get_layer("race").units)  # the widest race head
    names = [layer.name for layer in target.layers]
    for model in models:
        if [layer.name for layer in model.layers] != names:
            raise SystemExit("error: the models do not share an architecture")
    for name in names:
        layers = [model.get_layer(name) for model in models]
        if not target.get_layer(name).weights:
            continue
        if name == "race":
            weights = [seven_race_head(model, target) or layer.get_weights() for model, layer in zip(models, layers)]
        else:
            weights = [layer.get_weights() for layer in layers]
        target.get_layer(name).set_weights([sum(share * np.asarray(w) for share, w in zip(shares, parts))
                                            for parts in zip(*weights)])
    target.save(args.output)
    print(f"wrote {args.output}: {' + '.join(f'{share:.2f} x {path}' for share, path in zip(shares, args.models))}")


if __name__ == "__main__":
    main()
