"""Where results are written: checked before the slow work (never an input, never an existing file without
--overwrite, a folder that can be written) and written atomically (never a half-written file under its name)."""
from __future__ import annotations

import errno
import fcntl
import os
import shutil
import stat
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeAlias

from facekit.core.errors import FaceKitError

PathName: TypeAlias = str | Path  # a file or folder, as given


def same_file(a: PathName, b: PathName) -> bool:
    """True when ``a`` and ``b`` are one file: by identity, so hard and symbolic links count too."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # either does not exist (yet)
        return False


def check_output(path: PathName, option: str, inputs: Iterable[PathName] | InputFiles = (),
                 overwrite: bool = False) -> None:
    """Refuses ``path`` (given as ``option``, such as ``--json``) when it is one of ``inputs`` or, without
    ``overwrite``, when it exists; then checks that its folder can be created and written."""
    check_replaceable(path, option, inputs, overwrite)
    if not special_file(path):  # /dev/stdout, a FIFO: written into, nothing made beside them
        check_folder(Path(path).parent, option)


class InputFiles:
    """Input files by identity (device and inode), so that many outputs are checked against many inputs in linear
    time: ``find(path)`` is the input that ``path`` is (hard and symbolic links count), or None."""

    def __init__(self, inputs: Iterable[PathName] = ()) -> None:
        self._by_id: dict[tuple[int, int], PathName] = {}
        for source in inputs:
            key = _file_id(source)
            if key is not None:
                self._by_id.setdefault(key, source)

    def find(self, path: PathName) -> PathName | None:
        key = _file_id(path)
        return None if key is None else self._by_id.get(key)


def _file_id(path: PathName) -> tuple[int, int] | None:
    try:
        status = os.stat(path)
    except (OSError, ValueError):  # does not exist (yet), or a name the system refuses
        return None
    return status.st_dev, status.st_ino


def check_replaceable(path: PathName, option: str, inputs: Iterable[PathName] | InputFiles = (),
                      overwrite: bool = False) -> None:
    """Refuses ``path`` when it is one of ``inputs`` (a list, or InputFiles made once for many outputs) or,
    without ``overwrite``, when it exists."""
    path = Path(path)
    source = (inputs if isinstance(inputs, InputFiles) else InputFiles(inputs)).find(path)
    if source is not None:
        raise FaceKitError(f"{option} {path} is the input {source}; choose another {option}")
    if path.exists() and not overwrite:
        raise FaceKitError(f"{path} already exists; pass --overwrite or choose another {option}")


def check_folder(folder: PathName, option: str) -> None:
    """Raises FaceKitError unless files can be written in ``folder``; folders made for the check are removed."""
    folder = Path(folder)
    missing: list[Path] = []
    parent = folder
    while not parent.exists() and parent != parent.parent:
        missing.append(parent)
        parent = parent.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise FaceKitError(f"cannot write to the folder {folder} ({option}): "
                           f"{error.strerror or error}") from error
    finally:
        for made in missing:  # deepest first
            try:
                made.rmdir()
            except OSError:
                pass


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def special_file(path: PathName) -> bool:
    """True when ``path`` (its links followed) is there but is not a regular file or a folder: a device such as
    /dev/stdout or /dev/full, a FIFO, a socket."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


@contextmanager
def replacing(path: PathName) -> Iterator[Path]:
    """Yields a temporary path beside ``path`` (same extensions) to write; when the block succeeds it replaces
    ``path`` in one step, when it fails (a full disk, an interruption) it is removed. A process killed in between
    leaves only the temporary file.

    The temporary file is made by ``tempfile.mkstemp`` in ``path``'s folder (``.STEM.RANDOM.partial.EXT``): a new
    name no other file has, so no file but the one made here is ever replaced or removed. It gets the permissions
    a new file would get (0666 less the umask).

    What is not a regular file is never renamed over: a symbolic link to a file stays, and the file it points to is
    replaced; a device, FIFO or socket (``special_file``: /dev/stdout, a pipe) is written into once the block
    succeeds (a FIFO nobody reads: OSError, and it stays)."""
    path = Path(path)
    if special_file(path):
        with _written_into(path) as partial:
            yield partial
        return
    if path.is_symlink() and path.exists():
        path = Path(os.path.realpath(path))
    stem, dot, suffixes = path.name.partition(".")  # best.keras, heads.weights.h5: the suffixes Keras requires
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{stem}.", suffix=f".partial{dot}{suffixes}")
    os.close(handle)
    partial = Path(name)
    try:
        os.chmod(partial, 0o666 & ~_umask())
        yield partial
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


@contextmanager
def _written_into(path: PathName) -> Iterator[Path]:
    """``replacing`` for a special file: the block writes a temporary file elsewhere, then its bytes go into ``path``,
    opened without creating or truncating anything."""
    stem, dot, suffixes = Path(path).name.partition(".")
    handle, name = tempfile.mkstemp(prefix=f".{stem}.", suffix=f".partial{dot}{suffixes}")
    os.close(handle)
    partial = Path(name)
    try:
        yield partial
        try:  # non-blocking first: a FIFO with no reader fails at once (ENXIO) instead of waiting for ever
            descriptor = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as error:
            if error.errno == errno.ENXIO:
                raise OSError(errno.ENXIO, f"nothing reads the FIFO {path}") from error
            raise
        fcntl.fcntl(descriptor, fcntl.F_SETFL, fcntl.fcntl(descriptor, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        with open(descriptor, "wb") as target, open(partial, "rb") as source:
            shutil.copyfileobj(source, target)
    finally:
        partial.unlink(missing_ok=True)


def write_bytes(path: PathName, data: bytes) -> None:
    """Writes ``data`` to ``path`` atomically (``replacing``) and checks the size written: a full disk that a
    writer does not report leaves no short file under the name. OSError when it cannot."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path) as partial:
        with open(partial, "wb") as f:
            f.write(data)
        written = partial.stat().st_size
        if written != len(data):
            raise OSError(errno.ENOSPC, f"No space left on device ({written:,} of {len(data):,} bytes written)")


def write_text(path: PathName, text: str) -> None:
    """Writes ``text`` to ``path`` atomically, its size checked (``write_bytes``); FaceKitError naming the file when
    it cannot."""
    path = Path(path)
    try:
        write_bytes(path, text.encode())
    except OSError as error:
        raise FaceKitError(f"cannot write {path}: {error.strerror or error}") from error
