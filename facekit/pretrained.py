"""Published weights files: where each comes from, and getting a checked local copy (``vggface_weights/``)."""
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import keras

from facekit import paths
from facekit.errors import FaceKitError


@dataclass(frozen=True)
class WeightsSource:
    """One published weights file of a backbone, and the function that loads it: ``load(model, path) -> model``.

    ``fetch(directory) -> path`` replaces the plain download for a file published in another form (compressed).
    """

    file_name: str
    url: str
    sha256: str
    size: int  # bytes
    load: Callable
    fetch: Callable | None = None


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_weights(source, label, directory=None):
    """Path of ``source``'s file: the local copy if it checks out, else a download (checked by sha256).

    ``label`` names the weights in messages (``the vggface2 weights``).
    """
    directory = paths.vggface_weights_dir() if directory is None else Path(directory)
    if source.fetch is not None:
        return source.fetch(directory)
    path = directory / source.file_name
    facts = f"{source.size:,} bytes, sha256 {source.sha256}"
    if path.exists():
        if sha256_of(path) != source.sha256:
            raise FaceKitError(
                f"{path} is not the published {source.file_name} (sha256 mismatch; expected {facts}). Replace it "
                "with the published file, or pass its path with --weights PATH if it is a file of your own.")
        return path
    try:
        return Path(keras.utils.get_file(source.file_name, source.url, file_hash=source.sha256,
                                         hash_algorithm="sha256", cache_dir=str(directory.parent),
                                         cache_subdir=directory.name))
    except Exception as error:  # offline, proxy, HTTP error, or a download that failed its checksum
        raise FaceKitError(
            f"could not download {label} ({error.__class__.__name__}: {error}). Download {source.url} ({facts}) "
            f"on a machine with internet and put it at {path}.") from None
