"""FairFace (Kärkkäinen and Joo, WACV 2021; CC BY 4.0) in its own layout: ``fairface_label_train.csv`` and
``fairface_label_val.csv`` (columns ``file,age,gender,race,service_test``; ``file`` relative to the CSV, such as
``train/1.jpg``) beside ``train/`` and ``val/``.

Age is a bin (``0-2`` ... ``60-69``, ``more than 70``), carried as an interval (``Samples.age_intervals``), never as a
made-up exact age; the two spreadsheet-damaged spellings that circulate (``03-Sep``/``9-Mar`` for 3-9, ``Oct-19``/
``19-Oct`` for 10-19) are read with one warning line. Race is one of FairFace's seven classes. A row with another bin,
gender or race, a missing image or a file named twice is skipped and named by its line, as the CSV reader does.

The split is FairFace's own: ``val/`` is a test set only (the FairFace paper's benchmark: never trained or chosen on);
``train/`` gives the training part and a validation part of VAL_FRACTION, fixed by file name.
"""
import csv
import logging
from pathlib import Path

import numpy as np

from facekit.core.errors import DataError
from facekit.core.labels import FAIRFACE_AGE_BINS, GENDERS, OPEN_END, RACE_LABELS, RACES
from facekit.data.csv_dataset import Row, report_skipped, without_repeats
from facekit.data.samples import Samples, describe, split

logger = logging.getLogger(__name__)

HEADER = ("file", "age", "gender", "race", "service_test")
TRAIN_CSV, VAL_CSV = "fairface_label_train.csv", "fairface_label_val.csv"
DAMAGED_BINS = {"03-Sep": "3-9", "9-Mar": "3-9", "Oct-19": "10-19", "19-Oct": "10-19"}  # what spreadsheets made of them
GENDER_NAMES = {name.capitalize(): index for index, name in enumerate(GENDERS)}  # Male, Female
TRAIN_FOLD, TEST_FOLD = 0, 1  # Samples.folds: rows of the train CSV, rows of the val CSV
VAL_FRACTION = 0.1


def _header(csv_path: Path) -> tuple[str, ...]:
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as f:
            return tuple(name.strip().lower() for name in next(csv.reader(f), []))
    except (OSError, UnicodeDecodeError, csv.Error):
        return ()


def is_fairface(source: str | Path) -> bool:
    """A folder holding FairFace's label CSVs, or one of those CSVs (FairFace's exact header)."""
    path = Path(source)
    if path.is_dir():
        return (path / TRAIN_CSV).is_file() or (path / VAL_CSV).is_file()
    return path.is_file() and path.suffix.lower() == ".csv" and _header(path) == HEADER


def label_files(source: str | Path) -> list[tuple[Path, int]]:
    """The label CSVs a FairFace source stands for, each with its fold: the folder's (or the train CSV's) train and
    val CSVs, whichever exist; a val CSV given alone, itself."""
    path = Path(source)
    folder = path if path.is_dir() else path.parent
    if path.is_file() and path.name != TRAIN_CSV:
        return [(path, TEST_FOLD)]
    return [(folder / name, fold) for name, fold in ((TRAIN_CSV, TRAIN_FOLD), (VAL_CSV, TEST_FOLD))
            if (folder / name).is_file()]


def _rows(csv_path: Path, damaged: list[str]) -> tuple[list[Row], list[str]]:
    """(rows with labels (gender, race, lowest age, highest age), problems "line N: why") of one label CSV."""
    rows, problems = [], []
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = tuple(name.strip().lower() for name in next(reader, []))
            if header != HEADER:
                raise DataError(f"{csv_path} is not a FairFace label file: its header is "
                                f"{','.join(header) or 'empty'}, FairFace's is {','.join(HEADER)}")
            for fields in reader:
                line = reader.line_num
                if not any(field.strip() for field in fields):
                    continue
                if len(fields) != len(HEADER):
                    problems.append(f"line {line}: {len(fields)} fields, the header has {len(HEADER)}")
                    continue
                file, age, gender, race = (field.strip() for field in fields[:4])
                if age in DAMAGED_BINS:
                    damaged.append(age)
                    age = DAMAGED_BINS[age]
                why = (f"unknown age bin '{age}'" if age not in FAIRFACE_AGE_BINS else
                       f"unknown gender '{gender}'" if gender not in GENDER_NAMES else
                       f"unknown race '{race}'" if race not in RACES else
                       f"{file} is outside {csv_path.parent}" if Path(file).is_absolute() or ".." in Path(file).parts
                       else None)
                path = csv_path.parent / file
                if why is None and not path.is_file():
                    why = f"no image file {path}"
                if why is not None:
                    problems.append(f"line {line}: {why}")
                    continue
                low, high = FAIRFACE_AGE_BINS[age]
                high = OPEN_END if high is None else high
                rows.append(Row(line, file, str(path), (GENDER_NAMES[gender], RACE_LABELS.index(race), low, high)))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise DataError(f"cannot read {csv_path}: {getattr(error, 'strerror', None) or error}") from error
    return rows, problems


def read_fairface(source: str | Path) -> Samples:
    """Samples of a FairFace source (``label_files``), ``folds`` TRAIN_FOLD or TEST_FOLD; reports the rows skipped,
    the damaged bins read and the label counts."""
    files = label_files(source)
    if not files:
        raise DataError(f"{source} holds neither {TRAIN_CSV} nor {VAL_CSV}")
    rows: list[Row] = []
    folds: list[int] = []
    damaged: list[str] = []
    for csv_path, fold in files:
        kept, problems = _rows(csv_path, damaged)
        kept, problems = without_repeats(kept, problems)
        report_skipped(csv_path, problems)
        rows += kept
        folds += [fold] * len(kept)
    if damaged:
        repaired = ", ".join(sorted({DAMAGED_BINS[d] for d in damaged}))
        logger.warning(f"read {len(damaged)} age bin(s) spelt as dates by a spreadsheet "
                       f"({', '.join(sorted(set(damaged)))}) as {repaired}")
    if not rows:
        raise DataError(f"no usable row in {', '.join(str(path) for path, _ in files)}")
    labels = np.array([row.labels for row in rows], np.int32)
    samples = Samples(np.array([row.path for row in rows]), np.full(len(rows), -1, np.int32), labels[:, 0],
                      labels[:, 1], folds=np.array(folds, np.int32), age_intervals=labels[:, 2:4].copy())
    logger.info(describe(samples))
    return samples


def fairface_split(samples: Samples, limit: int | None = None) -> dict[str, Samples]:
    """FairFace's own split: the val CSV's images are the test split; the train CSV's are split by file name into
    training and validation (VAL_FRACTION). ``limit`` keeps a fixed subset of each, as ``samples.split`` does."""
    if limit is not None:
        samples = split(samples, (1.0, 0.0, 0.0), limit=limit)["train"]
    if samples.folds is None:
        raise DataError("FairFace samples without their folds (train or val CSV) cannot be split")
    train = split(samples.subset(samples.folds == TRAIN_FOLD), (1 - VAL_FRACTION, VAL_FRACTION, 0.0))
    return {"train": train["train"], "val": train["val"], "test": samples.subset(samples.folds == TEST_FOLD)}
