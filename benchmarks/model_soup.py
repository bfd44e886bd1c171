"""A "model soup": the element-wise mean of the weights of several fine-tuned models that share an architecture and
a starting point (Wortsman et al., 2022), saved as one .keras model, to score with benchmarks/fairness.py.

    .venv/bin/python -m benchmarks.model_soup OUT.keras A.keras B.keras [...]
"""
import argparse

import numpy as np

from facekit.backbones.model import load_model


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output")
    parser.add_argument("models", nargs="+")
    args = parser.parse_args()
    models = [load_model(path) for path in args.models]
    if len({len(model.weights) for model in models}) != 1:
        raise SystemExit("error: the models do not share an architecture")
    for weights in zip(*(model.weights for model in models)):
        weights[0].assign(np.mean([np.asarray(weight) for weight in weights], axis=0))
    models[0].save(args.output)
    print(f"wrote {args.output}: the mean of {len(models)} models' weights")


if __name__ == "__main__":
    main()
