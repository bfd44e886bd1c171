"""Where results are written: checked before the slow work (never an input, never an existing file without
--overwrite, a folder that can be written) and written atomically (never a half-written file under its name)."""
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

from facekit.core.errors import FaceKitError


def same_file(a, b):
    """True when ``a`` and ``b`` are one file: by identity, so hard and symbolic links count too."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # either does not exist (yet)
        return False


def check_output(path, option, inputs=(), overwrite=False):
    """Refuses ``path`` (given as ``option``, such as ``--json``) when it is one of ``inputs`` or, without
    ``overwrite``, when it exists; then checks that its folder can be created and written."""
    check_replaceable(path, option, inputs, overwrite)
    check_folder(Path(path).parent, option)


class InputFiles:
    """Input files by identity (device and inode), so that many outputs are checked against many inputs in linear
    time: ``find(path)`` is the input that ``path`` is (hard and symbolic links count), or None."""

    def __init__(self, inputs=()):
        self._by_id = {}
        for source in inputs:
            key = _file_id(source)
            if key is not None:
                self._by_id.setdefault(key, source)

    def find(self, path):
        key = _file_id(path)
        return None if key is None else self._by_id.get(key)


def _file_id(path):
    try:
        status = os.stat(path)
    except (OSError, ValueError):  # does not exist (yet), or a name the system refuses
        return None
    return status.st_dev, status.st_ino


def check_replaceable(path, option, inputs=(), overwrite=False):
    """Refuses ``path`` when it is one of ``inputs`` (a list, or InputFiles made once for many outputs) or,
    without ``overwrite``, when it exists."""
    path = Path(path)
    source = (inputs if isinstance(inputs, InputFiles) else InputFiles(inputs)).find(path)
    if source is not None:
        raise FaceKitError(f"{option} {path} is the input {source}; choose another {option}")
    if path.exists() and not overwrite:
        raise FaceKitError(f"{path} already exists; pass --overwrite or choose another {option}")


def check_folder(folder, option):
    """Raises FaceKitError unless files can be written in ``folder``; folders made for the check are removed."""
    folder = Path(folder)
    missing, parent = [], folder
    while not parent.exists() and parent != parent.parent:
        missing.append(parent)
        parent = parent.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise FaceKitError(f"cannot write to the folder {folder} ({option}): "
                           f"{error.strerror or error}") from None
    finally:
        for made in missing:  # deepest first
            try:
                made.rmdir()
            except OSError:
                pass


@contextmanager
def replacing(path):
    """Yields a temporary path beside ``path`` (same extensions) to write; when the block succeeds it replaces
    ``path`` in one step, when it fails (a full disk, an interruption) it is removed. A process killed in between
    leaves only the temporary file."""
    path = Path(path)
    stem, dot, suffixes = path.name.partition(".")  # best.keras, heads.weights.h5: the suffixes Keras requires
    partial = path.with_name(f"{stem}.partial{dot}{suffixes}")
    try:
        yield partial
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def write_text(path, text):
    """Writes ``text`` to ``path`` atomically; FaceKitError naming the file when it cannot."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with replacing(path) as partial:
            partial.write_text(text)
    except OSError as error:
        raise FaceKitError(f"cannot write {path}: {error.strerror or error}") from None
