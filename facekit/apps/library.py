"""A photo library with face_demo.py: results as JSON Lines (one line per photo, flushed as each finishes),
``--resume`` after an interruption, worker processes, and a progress bar.

The work of one photo is ``analyze_photo``: read, analyse, and (unless results only) draw and write its annotated
copy; its entry is the one ``--json`` and ``--jsonl`` write, and the cluster engine (facekit/apps/cluster.py) writes
the same. ``photo_results`` runs it over many photos in this process or in N worker processes, each with its own
model and detector, and yields the entries as they finish (in any order with workers; each photo once).

In one process the photos go through a pipeline (``pipelined_results``): READ_THREADS threads read and decode the
next ``read_ahead`` photos (Pillow and OpenCV let go of the GIL while they decode) while this thread detects and
predicts, and the annotated copies are drawn and written in those threads too; the entries still come in the
inputs' order, each the one ``analyze_photo`` gives, and at most ``read_ahead`` photos wait decoded (and as many
annotated copies wait to be written): memory stays bounded whatever the library's size.
"""
import fcntl
import json
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeAlias

import cv2

from facekit.apps.photos import (
    AnalysedPhoto,
    PhotoAnalyzer,
    ReadPhoto,
    ReducedDecode,
    Timings,
    analyze_photo,
    analyze_read,
    photo_result,
    read_photo,
    write_annotated,
)
from facekit.core.errors import FaceKitError

Task: TypeAlias = tuple[str | Path, str | Path | None]  # a photo and where its annotated copy goes (None: results only)
Result: TypeAlias = tuple[dict[str, Any], str | None]  # its entry and one-line summary (analyze_photo)
MakeAnalyzer: TypeAlias = Callable[[int | None], PhotoAnalyzer]  # threads -> an analyzer; picklable for workers
# an analyzer -> its ReducedDecode, or None to decode every JPEG whole (photos.reduced_decode); picklable for workers
MakeReduced: TypeAlias = Callable[[PhotoAnalyzer], ReducedDecode | None]

# Photos read and decoded ahead of the analysis (face_demo.py --read-ahead), by READ_THREADS threads. A few keep
# the detector and model fed; each waits decoded (up to MAX_SIDE pixels a side: 50 MB), so not the whole folder.
READ_AHEAD = 4
READ_THREADS = 2
# face_demo.py --workers auto (its default): a second process where there are two cores and photos enough. On 1,000
# All-Age-Faces photos, 2 quiet AVX2 cores: 50.9 photos/s with two workers, 39.6 with one process (x1.28; one
# process runs LiteRT on both cores but YuNet and the crop on one). A worker's start-up (its own model and detector,
# about half a second) is won back after about 90 photos at those rates; from 200, with room to spare.
AUTO_WORKERS_FROM = 200


def auto_workers(photos: int, cores: int | None = None) -> int:
    """The worker processes ``--workers auto`` runs for this many photos: 2 with at least 2 cores (``cores`` None:
    this machine's) and AUTO_WORKERS_FROM photos, else 1. Two, not one a core: more were never measured."""
    cores = os.cpu_count() if cores is None else cores
    return 2 if (cores or 1) >= 2 and photos >= AUTO_WORKERS_FROM else 1


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


_worker: tuple[PhotoAnalyzer, ReducedDecode | None] | None = None


def _start_worker(make_analyzer: MakeAnalyzer, threads: int, make_reduced: MakeReduced | None) -> None:
    global _worker
    cv2.setNumThreads(threads)
    analyzer = make_analyzer(threads)
    _worker = analyzer, make_reduced(analyzer) if make_reduced is not None else None


def _analyze_in_worker(task: Task) -> Result:
    assert _worker is not None, "the pool's initializer builds it"
    return analyze_photo(_worker[0], *task, reduced=_worker[1])


def photo_results(make_analyzer: MakeAnalyzer, tasks: Iterable[Task], workers: int = 1,
                  read_ahead: int = READ_AHEAD, make_reduced: MakeReduced | None = None,
                  timings: Timings | None = None) -> Iterator[Result]:
    """(image, output or None) pairs -> their (entry, summary) as each finishes. ``make_analyzer(threads)`` builds
    the analyzer: once here with one worker, once in each worker process with several (each gets its share of the
    cores); a picklable callable, then. ``make_reduced``: which JPEGs each analyzer may decode reduced
    (``photos.reduced_decode``; None: all whole). With one worker the photos are pipelined (``pipelined_results``,
    ``read_ahead`` and ``timings`` are its), in the inputs' order."""
    if workers == 1:
        analyzer = make_analyzer(None)
        reduced = make_reduced(analyzer) if make_reduced is not None else None
        yield from pipelined_results(analyzer, tasks, read_ahead, reduced, timings)
        return
    threads = max(1, (os.cpu_count() or 1) // workers)
    context = multiprocessing.get_context("spawn")  # no fork of a process that may hold threads
    with context.Pool(workers, _start_worker, (make_analyzer, threads, make_reduced)) as pool:
        yield from pool.imap_unordered(_analyze_in_worker, tasks, chunksize=1)


def pipelined_results(analyzer: PhotoAnalyzer, tasks: Iterable[Task], read_ahead: int = READ_AHEAD,
                      reduced: ReducedDecode | None = None, timings: Timings | None = None) -> Iterator[Result]:
    """Each photo's (entry, summary), in the order of ``tasks``, the same as ``analyze_photo`` gives it one photo
    after another, with up to ``read_ahead`` photos read and decoded ahead in threads (0: each read in its turn,
    no thread) and the annotated copies written in those threads. ``timings``: a dict that receives the seconds
    of each stage summed over the photos (decode, detect, predict, annotate; decoding and writing overlap the
    analysis, so they can add up to more than the time taken)."""
    decode = reduced.decode if reduced is not None else ()
    if read_ahead <= 0:
        for image, output in tasks:
            photo = write_annotated(analyze_read(analyzer, read_photo(image, *decode), output, reduced))
            yield _counted(photo, timings)
        return
    pool = ThreadPoolExecutor(READ_THREADS, thread_name_prefix="read-photo")
    reads: deque[tuple[Future[ReadPhoto], str | Path | None]] = deque()  # read ahead, in the inputs' order
    writes: deque[Future[AnalysedPhoto]] = deque()  # analysed, their annotated copy being written
    pending = iter(tasks)

    def read_next() -> None:
        for image, output in pending:
            reads.append((pool.submit(read_photo, image, *decode), output))
            return

    try:
        for _ in range(read_ahead):
            read_next()
        while reads:
            read, output = reads.popleft()
            read_next()
            photo = analyze_read(analyzer, read.result(), output, reduced)
            if photo.output is None or photo.error is not None:
                writes.append(_done(photo))
            else:
                writes.append(pool.submit(write_annotated, photo))
            while writes and (writes[0].done() or len(writes) > read_ahead):
                yield _counted(writes.popleft().result(), timings)
        while writes:
            yield _counted(writes.popleft().result(), timings)
    finally:  # also when the caller stops early: no more reads start, the ones under way finish
        pool.shutdown(wait=True, cancel_futures=True)


def _done(photo: AnalysedPhoto) -> Future[AnalysedPhoto]:
    future: Future[AnalysedPhoto] = Future()
    future.set_result(photo)
    return future


def _counted(photo: AnalysedPhoto, timings: Timings | None) -> Result:
    if timings is not None:
        for stage, seconds in photo.timings.items():
            timings[stage] = timings.get(stage, 0.0) + seconds
    return photo_result(photo)
