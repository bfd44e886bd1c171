"""Tiny stand-ins for UTKFace, written by the tests: JPEGs with UTKFace names whose pixels follow their labels.

Not faces: enough for the plumbing (reading, split, pipeline, training, resume, evaluation) to run anywhere,
and for a model to learn something in a few epochs (gender sets the colour of the left half, race the right
half, age the brightness of the bottom rows).
"""
import numpy as np
from PIL import Image

GENDER_COLOURS = ((40, 40, 200), (200, 40, 40))
RACE_COLOURS = ((230, 230, 230), (30, 30, 30), (230, 200, 40), (140, 80, 40), (40, 200, 200))


def synthetic_face(age, gender, race, size, rng):
    image = np.zeros((size, size, 3), np.float32)
    image[:, : size // 2] = GENDER_COLOURS[gender]
    image[:, size // 2:] = RACE_COLOURS[race]
    image[-size // 4:] = min(age, 100) * 2.5
    image += rng.normal(0, 12, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def utkface_name(index, age, gender, race):
    return f"{age}_{gender}_{race}_2017010{index:010d}.jpg.chip.jpg"


def write_utkface_folder(folder, count=60, size=32, seed=0):
    """``count`` JPEGs named AGE_GENDER_RACE_DATETIME.jpg.chip.jpg; returns their (age, gender, race) by name."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    labels = {}
    for index in range(count):
        age, gender, race = int(rng.integers(1, 95)), index % 2, int(rng.integers(0, 5))
        name = utkface_name(index, age, gender, race)
        Image.fromarray(synthetic_face(age, gender, race, size, rng)).save(folder / name, quality=95)
        labels[name] = (age, gender, race)
    return labels


FAIRFACE_RACE_COLOURS = ((230, 230, 230), (30, 30, 30), (140, 80, 40), (230, 200, 40), (200, 170, 60),
                         (40, 200, 200), (60, 160, 160))


def write_fairface_folder(folder, train=48, val=16, size=32, seed=0, bins=None):
    """FairFace's layout (train/N.jpg, val/N.jpg, fairface_label_train.csv and fairface_label_val.csv with its
    columns) of synthetic images whose pixels follow the labels as ``synthetic_face``'s do (age: the bin's middle).
    ``bins``: the age bins' spellings to draw from (default: FairFace's nine). Returns {file: (bin, gender, race)}."""
    from facekit.core.labels import FAIRFACE_AGE_BINS, RACES
    bins = list(bins or FAIRFACE_AGE_BINS)
    rng = np.random.default_rng(seed)
    labels = {}
    for part, count in (("train", train), ("val", val)):
        (folder / part).mkdir(parents=True, exist_ok=True)
        lines = ["file,age,gender,race,service_test"]
        for index in range(1, count + 1):
            age_bin, gender, race = bins[int(rng.integers(len(bins)))], index % 2, int(rng.integers(len(RACES)))
            low, high = FAIRFACE_AGE_BINS.get(age_bin, (20, 29))
            image = synthetic_face((low + (high or 80)) // 2, gender, 0, size, rng)
            image[:, size // 2:] = FAIRFACE_RACE_COLOURS[race]
            file = f"{part}/{index}.jpg"
            Image.fromarray(image).save(folder / file, quality=95)
            lines.append(f"{file},{age_bin},{('Male', 'Female')[gender]},{RACES[race]},True")
            labels[file] = (age_bin, gender, race)
        (folder / f"fairface_label_{part}.csv").write_text("\n".join(lines) + "\n")
    return labels
