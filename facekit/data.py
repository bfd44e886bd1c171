"""UTKFace-style datasets: labels from file names, and a fixed train / validation / test split.

A file ``AGE_GENDER_RACE_DATETIME.jpg.chip.jpg`` (gender 0 male / 1 female; race 0 White, 1 Black, 2 Asian,
3 Indian, 4 Others) is a labelled face; any folder of images named that way works.
"""
import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from facekit.errors import FaceKitError
from facekit.labels import GENDERS, RACES

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}
SPLITS = ("train", "val", "test")


@dataclass
class Samples:
    """Parallel arrays, one entry per labelled image."""

    paths: np.ndarray
    ages: np.ndarray
    genders: np.ndarray
    races: np.ndarray

    def __len__(self):
        return len(self.paths)

    def subset(self, mask_or_index):
        return Samples(self.paths[mask_or_index], self.ages[mask_or_index], self.genders[mask_or_index],
                       self.races[mask_or_index])

    @property
    def names(self):
        return [Path(p).name for p in self.paths]


def parse_name(name):
    """``(age, gender, race)`` from a UTKFace file name, or None if it does not follow the naming."""
    fields = name.split("_")
    if len(fields) < 4:
        return None
    try:
        age, gender, race = int(fields[0]), int(fields[1]), int(fields[2])
    except ValueError:
        return None
    if not (0 <= age <= 130 and gender in (0, 1) and 0 <= race < len(RACES)):
        return None
    return age, gender, race


def _readable(path):
    """Cheap check (header only) that an image file opens; decoding all of them would take minutes."""
    try:
        with Image.open(path) as image:
            return image.size[0] > 0 and image.size[1] > 0
    except (OSError, UnidentifiedImageError):
        return False


def read_utkface(folder, log=print):
    """All parsable, readable images of a folder, sorted by name; reports what it skipped and the label counts."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FaceKitError(f"data folder not found: {folder}")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FaceKitError(f"no images in {folder} (expected UTKFace names such as 25_1_2_20170116174525125.jpg)")
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
        log(f"skipped {len(malformed)} file(s) whose names lack AGE_GENDER_RACE: {', '.join(malformed[:5])}"
            + (" ..." if len(malformed) > 5 else ""))
    if unreadable:
        log(f"skipped {len(unreadable)} unreadable image(s): {', '.join(unreadable[:5])}"
            + (" ..." if len(unreadable) > 5 else ""))
    if not rows:
        raise FaceKitError(f"no image in {folder} has a UTKFace name (AGE_GENDER_RACE_DATETIME.jpg)")
    paths, ages, genders, races = zip(*rows)
    samples = Samples(np.array(paths), np.array(ages, np.int32), np.array(genders, np.int32),
                      np.array(races, np.int32))
    log(describe(samples))
    return samples


def describe(samples):
    """Label distribution in three lines."""
    genders = Counter(samples.genders.tolist())
    races = Counter(samples.races.tolist())
    decades = Counter((samples.ages // 10 * 10).tolist())
    return (f"{len(samples)} images\n"
            f"  gender: {', '.join(f'{GENDERS[g]} {genders[g]}' for g in range(len(GENDERS)))}\n"
            f"  race:   {', '.join(f'{RACES[r]} {races[r]}' for r in range(len(RACES)))}\n"
            f"  age:    {', '.join(f'{d}s {decades[d]}' for d in sorted(decades))}")


def _unit_hash(name, salt):
    """A number in [0, 1) fixed by a file name alone: the split does not depend on listing order or --limit."""
    digest = hashlib.sha256(f"{salt}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0 ** 64


def split(samples, fractions=(0.7, 0.1, 0.2), limit=None):
    """{"train", "val", "test"} -> Samples. ``limit`` keeps a fixed subset of K images, each in its usual split."""
    if abs(sum(fractions) - 1) > 1e-6:
        raise FaceKitError(f"split fractions must add up to 1, not {fractions}")
    names = samples.names
    if limit is not None and limit < len(samples):
        order = np.argsort([_unit_hash(n, "limit") for n in names], kind="stable")
        keep = np.sort(order[:limit])
        samples, names = samples.subset(keep), [names[i] for i in keep]
    position = np.array([_unit_hash(n, "split") for n in names])
    edges = np.cumsum(fractions)
    which = np.searchsorted(edges[:-1], position, side="right")
    return {name: samples.subset(which == i) for i, name in enumerate(SPLITS)}


def save_split(splits, path):
    Path(path).write_text(json.dumps({k: v.names for k, v in splits.items()}, indent=0))
