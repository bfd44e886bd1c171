"""CSV datasets: one row per image, ``id``, ``file`` or ``path`` naming it, and any of ``age``, ``gender``, ``race``.

``id``, ``file`` and ``path`` name an image relative to the images folder (default: the CSV's folder); a bare id
(no extension) gets ``.jpg``. ``label`` is one of the three labels, named by ``label_column`` (``--label-column``).
Labels: age in years (0-130); gender 0/1, m/f or male/female; race UTKFace's code 0-4 or a name of
``facekit.core.labels.RACE_LABELS`` (FairFace's seven, or UTKFace's Asian and Others), any case. An empty
cell is a missing label. Rows whose image file is missing, that do not parse or hold an unknown label value are
reported with their line numbers, skipped and counted.
"""
import csv
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facekit.core.errors import DataError, first_few
from facekit.core.labels import GENDERS, RACE_LABELS, UTKFACE_RACE_LABELS
from facekit.data.samples import MISSING, Samples, describe

logger = logging.getLogger(__name__)

IMAGE_COLUMNS = ("path", "file", "id")  # the first present names the image
LABEL_COLUMNS = ("age", "gender", "race")
GENDER_VALUES = {"0": 0, "1": 1, "m": 0, "f": 1, **{name: i for i, name in enumerate(GENDERS)}}
RACE_VALUES = {**{str(code): label for code, label in enumerate(UTKFACE_RACE_LABELS)},
               **{name.lower(): i for i, name in enumerate(RACE_LABELS)}}


@dataclass(frozen=True)
class Row:
    line: int
    id: str  # the id column if there is one, else the image column's value
    path: str
    labels: tuple[int, ...]  # (age, gender, race), MISSING where the row gives none


def is_csv(source: str | Path) -> bool:
    return Path(source).is_file() and Path(source).suffix.lower() == ".csv"


def _parse_age(text: str) -> int:
    age = float(text)
    if not 0 <= age <= 130:
        raise ValueError
    return int(round(age))


def _parse_label(head: str, text: str) -> int:
    """The label index (or age) in ``text``; MISSING for an empty cell; ValueError for an unknown value."""
    text = text.strip()
    if not text:
        return MISSING
    if head == "age":
        return _parse_age(text)
    values = GENDER_VALUES if head == "gender" else RACE_VALUES
    if text.lower() not in values:
        raise ValueError
    return values[text.lower()]


def _columns(header: list[str], csv_path: str | Path,
             label_column: str | None) -> tuple[str, str | None, dict[str, str]]:
    """(image column, id column or None, {head: column}) from the header; FaceKitError when they do not fit."""
    names = [name.strip().lower() for name in header]
    repeated = sorted({name for name in names if name and names.count(name) > 1})
    if repeated:
        raise DataError(f"{csv_path}: the column {', '.join(repeated)} appears more than once in the header; which "
                        "one holds the data is not known")
    image = next((c for c in IMAGE_COLUMNS if c in names), None)
    if image is None:
        raise DataError(f"{csv_path} has no id, file or path column naming the images (its header: "
                           f"{','.join(header)})")
    heads = {head: head for head in LABEL_COLUMNS if head in names}
    if "label" in names:
        if label_column is None:
            raise DataError(f"{csv_path} has a label column: say what it holds with --label-column "
                               "gender, age or race")
        if label_column in heads:
            raise DataError(f"{csv_path} has both a label and a {label_column} column; --label-column "
                               f"{label_column} would give two {label_column}s")
        heads[label_column] = "label"
    elif label_column is not None:
        raise DataError(f"--label-column {label_column} given, but {csv_path} has no label column")
    return image, ("id" if "id" in names else None), heads


def read_rows(csv_path: str | Path, images: str | Path | None = None, label_column: str | None = None,
              labels: bool = True) -> tuple[list[Row], list[str]]:
    """(rows, problems) of a CSV: ``problems`` are "line N: why" for the rows skipped. ``labels=False`` reads only
    the images (a test file to predict)."""
    csv_path = Path(csv_path)
    folder = Path(images) if images else csv_path.parent
    if not folder.is_dir():
        raise DataError(f"--images folder not found: {folder}")
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if not header:
                raise DataError(f"{csv_path} is empty: expected a header such as id,label")
            image_column, id_column, heads = _columns(header, csv_path, label_column if labels else None)
            if not labels:
                heads = {}
            index = {name.strip().lower(): i for i, name in enumerate(header)}
            rows, problems = [], []
            for fields in reader:
                line = reader.line_num
                if not any(field.strip() for field in fields):
                    continue  # blank line
                if len(fields) != len(header):
                    problems.append(f"line {line}: {len(fields)} fields, the header has {len(header)}")
                    continue
                name = fields[index[image_column]].strip()
                if not name:
                    problems.append(f"line {line}: no {image_column}")
                    continue
                file = name + ".jpg" if image_column == "id" and not Path(name).suffix else name
                if Path(file).is_absolute() or ".." in Path(file).parts:
                    problems.append(f"line {line}: {name} is outside the images folder {folder}")
                    continue
                path = folder / file
                parsed = _parse_labels(fields, heads, index)
                if isinstance(parsed, str):
                    problems.append(f"line {line}: {parsed}")
                    continue
                if not path.is_file():
                    problems.append(f"line {line}: no image file {path}")
                    continue
                rows.append(Row(line, fields[index[id_column]].strip() if id_column else name, str(path),
                                tuple(parsed.get(head, MISSING) for head in LABEL_COLUMNS)))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise DataError(f"cannot read {csv_path}: {getattr(error, 'strerror', None) or error}") from error
    return without_repeats(rows, problems) if labels else (rows, problems)


def without_repeats(rows: list[Row], problems: list[str]) -> tuple[list[Row], list[str]]:
    """An image named twice: once is kept when the rows agree; with labels that differ, neither is kept (which
    one is right is not known)."""
    first: dict[str, Row] = {}
    conflicting, kept = set(), []
    for row in rows:
        earlier = first.setdefault(row.path, row)
        if earlier is row:
            continue
        if earlier.labels != row.labels:
            conflicting.add(row.path)
            problems.append(f"line {row.line}: {row.id} is on line {earlier.line} too, with other labels; "
                            "neither is used")
        else:
            problems.append(f"line {row.line}: {row.id} again (line {earlier.line})")
    for row in rows:
        if first[row.path] is row and row.path not in conflicting:
            kept.append(row)
    return kept, problems


def _parse_labels(fields: list[str], heads: dict[str, str], index: dict[str, int]) -> dict[str, int] | str:
    """{head: label} of a row, or why not (the first unknown value)."""
    parsed = {}
    for head, column in heads.items():
        try:
            parsed[head] = _parse_label(head, fields[index[column]])
        except ValueError:
            return f"unknown {head} '{fields[index[column]].strip()}'"
    return parsed


def report_skipped(csv_path: str | Path, problems: list[str]) -> None:
    if problems:
        logger.warning(f"skipped {len(problems)} row(s) of {Path(csv_path).name}: {first_few(problems, '; ')}")


def read_csv_dataset(source: str | Path, images: str | Path | None = None, label_column: str | None = None) -> Samples:
    """Samples from a CSV (the module's docstring says which); reports the rows skipped and the label counts."""
    rows, problems = read_rows(source, images, label_column)
    report_skipped(source, problems)
    if not rows:
        raise DataError(f"no usable row in {source}")
    labels = np.array([row.labels for row in rows], np.int32)
    samples = Samples(np.array([row.path for row in rows]), labels[:, 0], labels[:, 1], labels[:, 2])
    logger.info(describe(samples))
    return samples
