"""Every dataset format behind one call: ``read_dataset(source) -> Samples``.

Each reader declares which sources it takes (``accepts(source)``) and reads them (``read(source) ->
Samples``); the first reader in ``READERS`` that accepts a source reads it, so a reader for a particular file
(a CSV, Adience's fold files) goes before the catch-all UTKFace folder. Adding a dataset format: its reader in its
own module, one entry here. Labels a format lacks are ``facekit.data.samples.MISSING``.
"""
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facekit.core.errors import DataError
from facekit.data.adience import is_adience, read_adience
from facekit.data.csv_dataset import is_csv, read_csv_dataset
from facekit.data.fairface import fairface_split, is_fairface, read_fairface
from facekit.data.samples import Samples, split
from facekit.data.utkface import is_image_folder, read_utkface


@dataclass(frozen=True)
class DatasetReader:
    name: str
    accepts: Callable[[str | Path], bool]  # accepts(source)
    read: Callable[..., Samples]  # read(source, **options)
    description: str  # what --data should then be, for messages
    options: tuple[str, ...] = ()  # the options (of OPTIONS) it takes
    split: Callable[..., dict[str, Samples]] = split  # split(samples, limit=None): its train, val and test parts


OPTIONS = {"images": "--images", "label_column": "--label-column"}  # reader options and their command-line names


READERS = {reader.name: reader for reader in (
    DatasetReader("fairface", is_fairface, read_fairface,
                  "FairFace's folder or its fairface_label_train.csv (file,age,gender,race,service_test)",
                  split=fairface_split),
    DatasetReader("csv", is_csv, read_csv_dataset,
                  "a .csv file with an id, file or path column and age, gender, race or label columns",
                  options=("images", "label_column")),
    DatasetReader("adience", is_adience, read_adience,
                  "Adience's fold files (a folder with fold_0_data.txt ... fold_4_data.txt, or one of them)",
                  options=("images",)),
    DatasetReader("utkface", is_image_folder, read_utkface,
                  "a folder of images named like UTKFace (AGE_GENDER_RACE_DATETIME.jpg)"),
)}


def read_dataset(source: str | Path, **options: Any) -> Samples:
    """The images and labels at ``source``, read by the first reader that accepts it; ``options`` (of OPTIONS,
    None when not given) go to a reader that takes them."""
    given = {name: value for name, value in options.items() if value is not None}
    return dataset_reader(source, **given).read(source, **given)


def split_dataset(source: str | Path, samples: Samples, limit: int | None = None, **options: Any
                  ) -> dict[str, Samples]:
    """{"train", "val", "test"}: the samples of ``source`` split as its reader splits them (the fixed split by file
    name, or the dataset's own: FairFace's val/ is its test split)."""
    given = {name: value for name, value in options.items() if value is not None}
    return dataset_reader(source, **given).split(samples, limit=limit)


def dataset_reader(source: str | Path, **options: Any) -> DatasetReader:
    """The reader that takes ``source``, found without reading it: a missing or unreadable --data, or an option
    its reader does not take, fails fast."""
    if not Path(source).exists():
        raise DataError(f"data not found: {source}")
    for reader in READERS.values():
        if reader.accepts(source):
            for name, value in options.items():
                if value is not None and name not in reader.options:
                    raise DataError(f"{OPTIONS.get(name, name)} is not for {source}: its reader ({reader.name}) "
                                       "does not take it")
            return reader
    raise DataError(f"cannot read {source} as a dataset; --data takes "
                       + "; or ".join(reader.description for reader in READERS.values()))
