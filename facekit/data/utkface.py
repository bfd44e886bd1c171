"""UTKFace-style folders: labels from file names.

A file ``AGE_GENDER_RACE_DATETIME.jpg.chip.jpg`` (gender 0 male / 1 female; race 0 White, 1 Black, 2 Asian,
3 Indian, 4 Others) is a labelled face; any folder of images named that way works.
"""
import logging
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from facekit.core.errors import DataError, first_few
from facekit.core.labels import UTKFACE_RACE_LABELS, UTKFACE_RACES
from facekit.data.samples import Samples, describe
from facekit.vision.images import IMAGE_EXTENSIONS, images_in

logger = logging.getLogger(__name__)


def parse_name(name: str) -> tuple[int, int, int] | None:
    """``(age, gender, race label)`` from a UTKFace file name (its race code 0-4 as an index into RACE_LABELS: Asian
    and Others are sets of FairFace's classes), or None if it does not follow the naming."""
    fields = name.split("_")
    if len(fields) < 4:
        return None
    try:
        age, gender, race = int(fields[0]), int(fields[1]), int(fields[2])
    except ValueError:
        return None
    if not (0 <= age <= 130 and gender in (0, 1) and 0 <= race < len(UTKFACE_RACES)):
        return None
    return age, gender, UTKFACE_RACE_LABELS[race]


def _readable(path: Path) -> bool:
    """Cheap check (header only) that an image file opens; decoding all of them would take minutes."""
    try:
        with Image.open(path) as image:
            return image.size[0] > 0 and image.size[1] > 0
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError):
        return False


def is_image_folder(source: str | Path) -> bool:
    return Path(source).is_dir()


def read_utkface(folder: str | Path) -> Samples:
    """All parsable, readable images of a folder, sorted by name; reports what it skipped and the label counts."""
    folder = Path(folder)
    files = images_in(folder)
    if not files:
        raise DataError(f"no images in {folder} (expected {', '.join(IMAGE_EXTENSIONS)} files with UTKFace "
                           "names such as 25_1_2_20170116174525125.jpg)")
    rows, malformed, unreadable = [], [], []
    for path in files:
        labels = parse_name(path.name)
        if labels is None:
            malformed.append(path.name)
        elif not _readable(path):
            unreadable.append(path.name)
        else:
            rows.append((str(path), *labels))
    if malformed:
        logger.warning(f"skipped {len(malformed)} file(s) whose names lack AGE_GENDER_RACE: {first_few(malformed)}")
    if unreadable:
        logger.warning(f"skipped {len(unreadable)} unreadable image(s): {first_few(unreadable)}")
    if not rows:
        raise DataError(f"no image in {folder} has a UTKFace name (AGE_GENDER_RACE_DATETIME.jpg)")
    paths, ages, genders, races = zip(*rows)
    samples = Samples(np.array(paths), np.array(ages, np.int32), np.array(genders, np.int32),
                      np.array(races, np.int32))
    logger.info(describe(samples))
    return samples
