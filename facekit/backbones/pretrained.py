"""Published weights files: where each comes from, and getting a checked local copy (``vggface_weights/``)."""
import bz2
import hashlib
import http.client
import logging
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facekit.core import paths
from facekit.core.errors import ModelError
from facekit.core.outputs import replacing

logger = logging.getLogger(__name__)

# Seconds to wait for a connection and for each read of a download: a network that connects but never answers
# (a silent proxy) ends in an error, not a hang.
DOWNLOAD_TIMEOUT_S = 30


@dataclass(frozen=True)
class WeightsSource:
    """One published weights file of a backbone, and the function that loads it: ``load(model, path) -> model``.

    ``packed_sha256`` and ``packed_size``: for a file published bzip2-compressed, those of what ``url`` serves
    (``sha256`` and ``size`` are then the decompressed file's).
    """

    file_name: str
    url: str
    sha256: str
    size: int  # bytes
    load: Callable[[Any, str | Path], Any]  # (model, file) -> the model, its weights loaded
    packed_sha256: str | None = None
    packed_size: int | None = None


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_weights(source: WeightsSource, label: str, directory: str | Path | None = None) -> Path:
    """Path of ``source``'s file: the local copy if it checks out, else a download (checked by sha256).

    ``label`` names the weights in messages (``the vggface2 weights``).
    """
    directory = paths.vggface_weights_dir() if directory is None else Path(directory)
    path = directory / source.file_name
    facts = f"{source.size:,} bytes, sha256 {source.sha256}"
    if path.exists():
        if sha256_of(path) != source.sha256:
            raise ModelError(
                f"{path} is not the published {source.file_name} (sha256 mismatch; expected {facts}). Replace it "
                "with the published file, or pass its path with --weights PATH if it is a file of your own.")
        return path
    try:
        download(source.url, path, source.sha256, source.packed_sha256)
    except (OSError, EOFError, ValueError, http.client.HTTPException) as error:  # offline, silent, HTTP error,
        reason = " ".join(str(error).split()) or error.__class__.__name__  # a wrong checksum or bzip2 stream
        if source.packed_sha256 is None:
            how = f"Download {source.url} ({facts}) on a machine with internet and put it at {path}."
        else:
            how = (f"Download {source.url} ({source.packed_size:,} bytes, sha256 {source.packed_sha256}) on a "
                   f"machine with internet, decompress it (bunzip2) and put {source.file_name} ({facts}) at {path}.")
        raise ModelError(f"could not download {label} ({reason}). {how}") from error
    return path


def download(url: str, path: Path, sha256: str, packed_sha256: str | None = None) -> None:
    """Streams ``url`` into ``path``: through a partial file beside it, checked by sha256, then renamed. With
    ``packed_sha256`` the download is bzip2 decompressed on the way, and both files' sha256 checked. Every
    connection attempt and read times out after DOWNLOAD_TIMEOUT_S; ValueError for a wrong checksum or a bzip2
    stream cut short, EOFError for data after its end."""
    path.parent.mkdir(parents=True, exist_ok=True)
    logger.info(f"downloading {url} to {path.parent}")
    packed, digest = hashlib.sha256(), hashlib.sha256()
    decompressor = None if packed_sha256 is None else bz2.BZ2Decompressor()
    with replacing(path) as partial:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response, open(partial, "wb") as out:
            while chunk := response.read(1 << 20):
                packed.update(chunk)
                data = chunk if decompressor is None else decompressor.decompress(chunk)
                digest.update(data)
                out.write(data)
        if decompressor is not None:
            if packed.hexdigest() != packed_sha256:
                raise ValueError(f"the download has sha256 {packed.hexdigest()}, expected {packed_sha256}")
            if not decompressor.eof:
                raise ValueError("the download ended before the end of its bzip2 stream")
        if digest.hexdigest() != sha256:
            raise ValueError(f"the {'decompressed ' * (decompressor is not None)}download has sha256 "
                             f"{digest.hexdigest()}, expected {sha256}")
