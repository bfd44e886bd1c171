"""Published weights files: where each comes from, and getting a checked local copy (``vggface_weights/``)."""
import hashlib
import http.client
import os
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from facekit import paths
from facekit.errors import FaceKitError

# Seconds to wait for a connection and for each read of a download: a network that connects but never answers
# (a silent proxy) ends in an error, not a hang.
DOWNLOAD_TIMEOUT_S = 30


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
        download(source.url, path, source.sha256)
    except (OSError, ValueError, http.client.HTTPException) as error:  # offline, silent, HTTP error, wrong checksum
        reason = " ".join(str(error).split()) or error.__class__.__name__
        raise FaceKitError(f"could not download {label} ({reason}). Download {source.url} ({facts}) on a machine "
                           f"with internet and put it at {path}.") from None
    return path


def download(url, path, sha256):
    """Streams ``url`` into ``path``: through a partial file beside it, checked by sha256, then renamed. Every
    connection attempt and read times out after DOWNLOAD_TIMEOUT_S; ValueError for a wrong checksum."""
    path.parent.mkdir(parents=True, exist_ok=True)
    print(f"downloading {url} to {path.parent}", file=sys.stderr)
    partial = path.with_name(path.name + ".partial")
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response, open(partial, "wb") as out:
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != sha256:
            raise ValueError(f"the download has sha256 {digest.hexdigest()}, expected {sha256}")
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
