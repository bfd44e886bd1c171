"""Adience's benchmark: the five fold files (``fold_0_data.txt`` ... ``fold_4_data.txt``, tab-separated, one face a
row) and their aligned faces, ``aligned/USER_ID/landmark_aligned_face.FACE_ID.ORIGINAL_IMAGE`` (or
``coarse_tilt_aligned_face``, as the benchmark's ``faces/`` folder names them).

Age rule: the files give a range ``(a, b)``, a single number or ``None``. A range stands for its midpoint, a number
for itself; the age kept is that, rounded down, and its group is the one of the eight (0-2, 4-6, 8-13, 15-20,
25-32, 38-43, 48-53, 60+) that contains it, else the nearer one, the younger on a tie (``labels.age_group``). So
the eight standard labels map to themselves (``(8, 12)`` to 8-13, ``(60, 100)`` to 60+), ``(27, 32)`` to 25-32,
``(38, 42)`` and ``(38, 48)`` to 38-43, ``(8, 23)`` to 15-20, ``35`` to 25-32, ``13`` to 8-13, ``22`` to 15-20.
``None`` is a missing age, ``u`` or an empty gender a missing gender (masked in training, left out of the
scores); a row with neither, or whose face file is not there, is skipped and counted. Race: not given.

The folds are by person (Flickr user): ``Samples.folds`` holds each face's fold for ``--protocol adience-5fold``.
"""
import csv
import logging
import re
from pathlib import Path

import numpy as np

from facekit.core.errors import DataError, first_few
from facekit.core.labels import age_group, age_group_names
from facekit.data.samples import MISSING, Samples, describe

logger = logging.getLogger(__name__)

FOLDS = 5
FOLD_FILE = "fold_{}_data.txt"
FACE_PREFIXES = ("landmark_aligned_face", "coarse_tilt_aligned_face")
GENDER = {"m": 0, "f": 1}
COLUMNS = ("user_id", "original_image", "face_id", "age", "gender")
MAX_AGE = 130  # as the CSV reader: an age over it is a typo, not a label


def is_adience(source: str | Path) -> bool:
    """A folder holding the five fold files, or one fold file."""
    source = Path(source)
    if source.is_dir():
        return (source / FOLD_FILE.format(0)).is_file()
    return source.is_file() and re.fullmatch(r"fold_\d_data\.txt", source.name) is not None


def parse_age(text: str) -> int:
    """Age in years by the module's rule from ``(a, b)`` or a number; MISSING for ``None``; ValueError otherwise."""
    text = text.strip()
    if text in ("None", ""):
        return MISSING
    numbers = re.fullmatch(r"\(\s*(\d+)\s*,\s*(\d+)\s*\)|(\d+)", text)
    if not numbers:
        raise ValueError(text)
    low, high, single = numbers.groups()
    if single:
        low = high = single
    if not int(low) <= int(high) <= MAX_AGE:
        raise ValueError(text)
    return (int(low) + int(high)) // 2


def _face_file(folder: Path, user: str, face_id: str, image: str) -> Path | None:
    for prefix in FACE_PREFIXES:
        path = folder / user / f"{prefix}.{face_id}.{image}"
        if path.is_file():
            return path
    return None


def read_fold(fold_file: str | Path, images: str | Path) -> list[tuple[str, int, int]]:
    """(paths, ages, genders) of one fold file's faces whose image is in ``images``; prints its counts."""
    rows, skipped, unparsable = [], 0, []
    groups, genders = np.zeros(len(age_group_names()) + 1, int), {"male": 0, "female": 0, "unknown": 0}
    try:
        with open(fold_file, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f, delimiter="\t")
            missing = [column for column in COLUMNS if column not in (reader.fieldnames or [])]
            if missing:
                raise DataError(f"{fold_file} lacks the column(s) {', '.join(missing)} of Adience's fold files "
                                f"(tab-separated, with a header naming {', '.join(COLUMNS)})")
            for row in reader:
                try:
                    age = parse_age(row["age"] or "")
                    gender = GENDER.get((row["gender"] or "").strip(), MISSING)
                    user, face_id, image = row["user_id"].strip(), row["face_id"].strip(), row["original_image"].strip()
                except (ValueError, KeyError, AttributeError):
                    unparsable.append(f"line {reader.line_num}")
                    continue
                groups[-1 if age == MISSING else age_group(age)[0]] += 1
                genders[("male", "female")[gender] if gender != MISSING else "unknown"] += 1
                path = _face_file(Path(images), user, face_id, image)
                if path is None or (age == MISSING and gender == MISSING):
                    skipped += 1
                    continue
                rows.append((str(path), age, gender))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise DataError(f"cannot read {fold_file}: {getattr(error, 'strerror', None) or error}") from error
    names = age_group_names() + ["None"]
    logger.info(f"{Path(fold_file).name}: {int(groups.sum())} faces; age " + ", ".join(
        f"{name} {count}" for name, count in zip(names, groups)) + "; gender " + ", ".join(
        f"{name} {count}" for name, count in genders.items()) + f"; {len(rows)} with an image and a label"
        + (f", {skipped} skipped (no face file, or neither age nor gender)" if skipped else "")
        + (f"; {len(unparsable)} unparsable row(s): {first_few(unparsable)}" if unparsable else ""))
    return rows


def read_adience(source: str | Path, images: str | Path | None = None) -> Samples:
    """Samples of the fold files at ``source`` (a folder of the five, or one), faces from ``images`` (default
    ``SOURCE_FOLDER/aligned``), each with its fold; prints the counts per fold and age group."""
    source = Path(source)
    folder = source if source.is_dir() else source.parent
    images = Path(images) if images else folder / "aligned"
    if not images.is_dir():
        raise DataError(f"Adience faces not found: {images} (pass --images, the folder of USER_ID/ folders)")
    fold_files = ([(k, folder / FOLD_FILE.format(k)) for k in range(FOLDS)] if source.is_dir()
                  else [(int(source.name.split("_")[1]), source)])
    rows, folds = [], []
    for k, fold_file in fold_files:
        if not fold_file.is_file():
            raise DataError(f"Adience fold file not found: {fold_file}")
        found = read_fold(fold_file, images)
        rows += found
        folds += [k] * len(found)
    if not rows:
        raise DataError(f"no usable face in {source}: each row is unparsable (the counts above say which), has "
                        f"neither age nor gender, or has no face file under {images} (expected "
                        "USER_ID/landmark_aligned_face.FACE_ID.ORIGINAL_IMAGE)")
    paths, ages, genders = zip(*rows)
    missing = np.full(len(rows), MISSING, np.int32)
    samples = Samples(np.array(paths), np.array(ages, np.int32), np.array(genders, np.int32), missing,
                      folds=np.array(folds, np.int32))
    logger.info(describe(samples))
    return samples
