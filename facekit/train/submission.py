"""``face_train.py --predict test.csv --model M --output submission.csv [--sample sampleSubmit.csv]``: one label
per test image, written as a competition's submission file.

The test CSV names its images as a CSV dataset does (``facekit.data.csv_dataset``; labels, if any, are ignored). The
label is one head's prediction: gender 0 male / 1 female, race 0-4 (facekit.core.labels' order), or the age in whole
years. With ``--sample``, the file has the sample's header and its ids in its order, and the sample and the test
file must hold the same ids, each once; without, ``id,label`` in the test file's order. An existing output is
kept unless ``overwrite``.
"""
import csv
import io
import logging
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from facekit.core.errors import FaceKitError, first_few
from facekit.core.labels import AgeBins
from facekit.core.outputs import check_output, write_text
from facekit.data.csv_dataset import read_rows
from facekit.infer.predictors import load_predictor

logger = logging.getLogger(__name__)


def _ids(values: list[str], what: str) -> list[str]:
    repeated = [value for value, count in Counter(values).items() if count > 1]
    if repeated:
        raise FaceKitError(f"{what} holds {len(repeated)} id(s) more than once: {first_few(repeated)}")
    return values


def read_sample(sample: str | Path) -> tuple[list[str], list[str]]:
    """(header, ids in order) of a sample submission file."""
    try:
        with open(sample, newline="", encoding="utf-8-sig") as f:
            table = [row for row in csv.reader(f) if any(cell.strip() for cell in row)]
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise FaceKitError(f"cannot read --sample {sample}: {getattr(error, 'strerror', None) or error}") from error
    if not table or len(table[0]) != 2:
        raise FaceKitError(f"--sample {sample} should have two columns, an id and a label, under a header")
    return table[0], _ids([row[0].strip() for row in table[1:]], f"--sample {sample}")


def labels_from(probs: Mapping[str, np.ndarray], head: str, age_bins: AgeBins) -> np.ndarray:
    """One label per image from the predicted probabilities: class index, or age in whole years."""
    if head == "age":
        return np.rint(age_bins.expected_age(probs["age"])).astype(int)
    return probs[head].argmax(1)


def write_submission(test_csv: str | Path, model_path: str | Path, output: str | Path,
                     images: str | Path | None = None, sample: str | Path | None = None, head: str = "gender",
                     overwrite: bool = False, batch_size: int = 64) -> list[tuple[str, int]]:
    """Predicts ``head`` for every image of ``test_csv`` with the model at ``model_path`` (``.keras``, ``.tflite`` or
    ``.onnx``: facekit.infer.predictors.load_predictor) and writes the submission file; returns its rows."""
    check_output(output, "--output", inputs=[p for p in (test_csv, model_path, sample) if p], overwrite=overwrite)
    rows, problems = read_rows(test_csv, images, labels=False)
    if problems:
        raise FaceKitError(f"every test image needs a label, but {len(problems)} row(s) of {test_csv} cannot be "
                           f"predicted: {first_few(problems, '; ')}")
    if not rows:
        raise FaceKitError(f"no image listed in {test_csv}")
    ids = _ids([row.id for row in rows], str(test_csv))
    header, order = ["id", "label"], ids
    if sample:
        header, order = read_sample(sample)
        lacking, extra = sorted(set(order) - set(ids)), sorted(set(ids) - set(order))
        if lacking or extra:
            only = [f"{len(lacking)} only in the sample ({first_few(lacking, count=3)})" if lacking else "",
                    f"{len(extra)} only in the test file ({first_few(extra, count=3)})" if extra else ""]
            raise FaceKitError(f"--sample {sample} and {test_csv} hold different ids: "
                               + "; ".join(part for part in only if part))
    predictor = load_predictor(model_path)
    probs = predictor.file_probabilities([row.path for row in rows], batch_size)
    label = dict(zip(ids, labels_from(probs, head, predictor.age_bins).tolist()))
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([identifier, label[identifier]] for identifier in order)
    write_text(output, text.getvalue())
    logger.info(f"wrote {output}: {len(order)} {head} label(s)"
                + (f" in the order of {Path(sample).name}" if sample else ""))
    return [(identifier, label[identifier]) for identifier in order]
