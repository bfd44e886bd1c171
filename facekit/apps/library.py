"""A photo library with face_demo.py: results as JSON Lines (one line per photo, flushed as each finishes),
``--resume`` after an interruption, worker processes, and a progress bar.

The work of one photo is ``analyze_photo``: read, analyse, and (unless results only) draw and write its annotated
copy; its entry is the one ``--json`` and ``--jsonl`` write, and the cluster engine (facekit/apps/cluster.py) writes
the same. ``photo_results`` runs it over many photos in this process or in N worker processes, each with its own
model and detector, and yields the entries as they finish (in any order with workers; each photo once).
"""
import fcntl
import json
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeAlias

import cv2

from facekit.apps.photos import PhotoAnalyzer, analyze_photo
from facekit.core.errors import FaceKitError

Task: TypeAlias = tuple[str | Path, str | Path | None]  # a photo and where its annotated copy goes (None: results only)
Result: TypeAlias = tuple[dict[str, Any], str | None]  # its entry and one-line summary (analyze_photo)
MakeAnalyzer: TypeAlias = Callable[[int | None], PhotoAnalyzer]  # threads -> an analyzer; picklable for workers


def read_done(jsonl_path: str | Path) -> tuple[dict[str, str | None], int]:
    """For ``--resume``: (the photos a JSON Lines file already holds, {absolute path: its annotated copy or None};
    the length of its whole lines). A last line cut by a kill (no newline, or not JSON) does not count: JsonLines
    cuts it off, so that its photo is done again and the next line starts on a line of its own. Any other line that
    is not one of this program's entries means the file is not (only) its output: FaceKitError, nothing changed."""
    path = Path(jsonl_path)
    if not path.exists():
        return {}, 0
    done: dict[str, str | None] = {}
    kept = 0
    try:
        with open(path, "rb") as file:
            lines = file.readlines()
    except OSError as error:
        raise FaceKitError(f"cannot read {path} (--jsonl --resume): {error.strerror or error}") from error
    for number, line in enumerate(lines, 1):
        try:
            entry = json.loads(line) if line.endswith(b"\n") else None
        except ValueError:
            entry = None
        if isinstance(entry, dict) and "image" in entry:
            done[os.path.abspath(entry["image"])] = entry.get("output")
            kept += len(line)
            continue
        cut_by_a_kill = number == len(lines) and (done or line.startswith(b'{"image": '))
        if not cut_by_a_kill:
            raise FaceKitError(f"{path} is not face_demo.py's JSON Lines (line {number} is not one of its entries): "
                               "--resume appends only to its own; choose another --jsonl, or drop --resume and "
                               "pass --overwrite to start it afresh")
    return done, kept


class JsonLines:
    """Appends one JSON object per line, flushed at once: a kill loses at most the photo in flight. One writer per
    file: a second run on the same file is refused in one line (an advisory lock, held until ``close``)."""

    def __init__(self, path: str | Path, keep: int = 0) -> None:
        """``keep``: bytes of an existing file to keep (read_done's whole lines), 0 to start it afresh."""
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115  # truncated only once locked
        except OSError as error:
            raise FaceKitError(f"cannot write {self.path}: {error.strerror or error}") from error
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            self._file.close()
            raise FaceKitError(f"another run is writing {self.path}: wait for it to finish, or choose another "
                               "--jsonl") from error
        if self.path.is_file():  # a FIFO or /dev/stdout cannot be cut
            self._file.truncate(keep)

    def write(self, entry: dict[str, Any]) -> None:
        try:
            self._file.write(json.dumps(entry) + "\n")
            self._file.flush()
        except OSError as error:  # a full disk, ulimit -f
            raise FaceKitError(f"cannot write {self.path}: {error.strerror or error}") from error

    def close(self) -> None:
        try:
            self._file.close()
        except OSError as error:
            raise FaceKitError(f"cannot write {self.path}: {error.strerror or error}") from error


_worker_analyzer: PhotoAnalyzer | None = None


def _start_worker(make_analyzer: MakeAnalyzer, threads: int) -> None:
    global _worker_analyzer
    cv2.setNumThreads(threads)
    _worker_analyzer = make_analyzer(threads)


def _analyze_in_worker(task: Task) -> Result:
    assert _worker_analyzer is not None, "the pool's initializer builds it"
    return analyze_photo(_worker_analyzer, *task)


def photo_results(make_analyzer: MakeAnalyzer, tasks: Iterable[Task], workers: int = 1) -> Iterator[Result]:
    """(image, output or None) pairs -> their (entry, summary) as each finishes. ``make_analyzer(threads)`` builds
    the analyzer: once here with one worker, once in each worker process with several (each gets its share of the
    cores); a picklable callable, then."""
    if workers == 1:
        analyzer = make_analyzer(None)
        for task in tasks:
            yield analyze_photo(analyzer, *task)
        return
    threads = max(1, (os.cpu_count() or 1) // workers)
    context = multiprocessing.get_context("spawn")  # no fork of a process that may hold threads
    with context.Pool(workers, _start_worker, (make_analyzer, threads)) as pool:
        yield from pool.imap_unordered(_analyze_in_worker, tasks, chunksize=1)
