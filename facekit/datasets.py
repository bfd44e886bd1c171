"""Every dataset format behind one call: ``read_dataset(source) -> Samples``.

Each reader declares which sources it takes (``accepts(source)``) and reads them (``read(source, log) ->
Samples``); the first reader in ``READERS`` that accepts a source reads it, so a reader for a particular file
(a CSV, Adience's fold files) goes before the catch-all UTKFace folder. Adding a dataset format: its reader in its
own module, one entry here. Labels a format lacks are ``facekit.data.MISSING``.
"""
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from facekit.errors import FaceKitError
from facekit.utkface import is_image_folder, read_utkface


@dataclass(frozen=True)
class DatasetReader:
    name: str
    accepts: Callable  # accepts(source) -> bool
    read: Callable  # read(source, log) -> Samples
    description: str  # what --data should then be, for messages


READERS = {reader.name: reader for reader in (
    DatasetReader("utkface", is_image_folder, read_utkface,
                  "a folder of images named like UTKFace (AGE_GENDER_RACE_DATETIME.jpg)"),
)}


def read_dataset(source, log=print):
    """The images and labels at ``source``, read by the first reader that accepts it."""
    return dataset_reader(source).read(source, log=log)


def dataset_reader(source):
    """The reader that takes ``source``, found without reading it: a missing or unreadable --data fails fast."""
    if not Path(source).exists():
        raise FaceKitError(f"data not found: {source}")
    for reader in READERS.values():
        if reader.accepts(source):
            return reader
    raise FaceKitError(f"cannot read {source} as a dataset; --data takes "
                       + "; or ".join(reader.description for reader in READERS.values()))
