"""Video for the demo: open a webcam or file, annotate its frames, show and/or write them, measure frame rates.

OpenCV reads and writes BGR frames; FaceAnalyzer and drawing work in RGB, so each frame is converted once each way.
Frames are decoded in a thread of their own (``FrameReader``), ahead of the analysis, so that neither waits for the
other. A file is analysed frame by frame (every frame written, none skipped); a camera is live: its newest frame is
shown at once with the latest results while the analysis of an earlier one runs in the background
(``BackgroundAnalysis``), so a slow analysis slows the labels, never the picture.
"""
import contextlib
import os
import queue
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeAlias, cast

import cv2
import numpy as np
from numpy.typing import NDArray

from facekit.core.errors import FaceKitError
from facekit.core.outputs import replacing
from facekit.infer.results import FaceResult
from facekit.vision.drawing import annotate, draw_fps
from facekit.vision.region_search import RegionSearch
from facekit.vision.tracking import FaceTracks

WINDOW = "face_video_demo (q to quit)"
FALLBACK_FPS = 30.0  # webcams often report 0 frames per second
FOURCC = "mp4v"
Frame: TypeAlias = NDArray[np.uint8]  # an image (H, W, 3): BGR as OpenCV reads and writes it, RGB once converted


class FrameAnalyzer(Protocol):
    """What the video is analysed with: ``facekit.FaceAnalyzer``, or anything with its ``analyze`` (with
    ``search``) and ``detector``."""

    @property
    def detector(self) -> Any: ...

    def analyze(self, image: Frame, *, search: Any = None) -> list[FaceResult]: ...


def open_capture(source: str) -> tuple[cv2.VideoCapture, str]:
    """A digit string is a camera index; anything else a video file."""
    if source.isdigit():
        capture, what = cv2.VideoCapture(int(source)), f"camera {source}"
    else:
        if not Path(source).is_file():
            raise FaceKitError(f"video file not found: {source}")
        capture, what = cv2.VideoCapture(source), f"video {source}"
    if not capture.isOpened():
        capture.release()
        raise FaceKitError(f"cannot open {what}")
    return capture, what


def open_writer(path: str | Path, fps: float, frame_shape: Sequence[int],
                named: str | Path | None = None) -> cv2.VideoWriter:
    """A video writer at ``path``; ``named``: the output's name for messages, when ``path`` is its partial file."""
    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    height, width = frame_shape[:2]
    writer = cv2.VideoWriter(str(file), cv2.VideoWriter.fourcc(*FOURCC), fps, (width, height))
    if not writer.isOpened():
        raise FaceKitError(f"cannot write video {named or file} (try a .mp4 file name)")
    return writer


def check_written(partial: str | Path, output: str | Path, frames: int) -> None:
    """OpenCV's writer says nothing when the disk fills: the file written must open and hold the frames, or the
    output is not replaced by it (FaceKitError)."""
    reader = cv2.VideoCapture(str(partial))
    try:
        count = int(reader.get(cv2.CAP_PROP_FRAME_COUNT)) if reader.isOpened() else 0
        readable = count > 0 and reader.read()[0]
    finally:
        reader.release()
    if not readable or count < frames:
        raise FaceKitError(f"cannot write video {output}: the file written holds {max(count, 0)} of {frames} frames "
                           "(a full disk?); nothing was replaced")


def display_available() -> bool:
    """False without a screen, or with OpenCV built without GUI (opencv-python-headless)."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    try:
        cv2.namedWindow(WINDOW)
    except cv2.error:
        return False
    return True


class FrameRate:
    """Frames per second, smoothed over the last frames (exponential moving average of frame times)."""

    def __init__(self, smoothing: float = 0.9) -> None:
        self.smoothing = smoothing
        self._frame_time: float | None = None
        self._last = time.perf_counter()

    def tick(self) -> float:
        now = time.perf_counter()
        elapsed, self._last = now - self._last, now
        if self._frame_time is None:
            self._frame_time = elapsed
        else:
            self._frame_time = self.smoothing * self._frame_time + (1 - self.smoothing) * elapsed
        return 1.0 / max(self._frame_time, 1e-9)


class FrameReader:
    """``capture.read()`` in a background thread. From a file every frame is kept, up to ``ahead`` frames in
    advance; from a camera (``live``) only the newest, so that what is shown is never stale."""

    def __init__(self, capture: cv2.VideoCapture, live: bool = False, ahead: int = 4) -> None:
        self._capture, self._live = capture, live
        # (ok, frame) as capture.read() gives them: the frame a BGR uint8 array, or None once ok is False
        self._frames: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=1 if live else ahead)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="frame-reader", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        ok = True
        while ok and not self._stop.is_set():
            ok, frame = self._capture.read()
            if self._live and ok:
                try:  # drop the frame nobody took yet: the newest wins
                    self._frames.get_nowait()
                except queue.Empty:
                    pass
            while not self._stop.is_set():
                try:
                    self._frames.put((ok, frame), timeout=0.1)
                    break
                except queue.Full:
                    continue

    def read(self) -> tuple[bool, Any]:
        """(ok, BGR frame) as ``capture.read()``: ok False once the stream has ended."""
        return self._frames.get()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


class BackgroundAnalysis:
    """One frame at a time analysed in a worker thread: ``submit`` when idle, ``results`` when done."""

    def __init__(self, analyzer: FrameAnalyzer, search: Any = None) -> None:
        self._analyzer, self._search = analyzer, search
        self._busy = False
        self._done: queue.Queue[list[FaceResult] | Exception] = queue.Queue()

    def submit(self, frame_rgb: Frame) -> bool:
        """Starts analysing ``frame_rgb`` unless a frame is being analysed; True when it started."""
        if self._busy:
            return False
        self._busy = True
        threading.Thread(target=self._run, args=(frame_rgb,), daemon=True).start()
        return True

    def _run(self, frame_rgb: Frame) -> None:
        try:
            self._done.put(self._analyzer.analyze(frame_rgb, search=self._search))
        except Exception as error:  # handed to the main loop, which raises it there
            self._done.put(error)

    def results(self, wait: bool = False) -> list[FaceResult] | None:
        """The faces of the frame analysed last, once; None while it runs (or waits for it with ``wait``)."""
        if not self._busy:
            return None
        try:
            found = self._done.get(timeout=None if wait else 0)
        except queue.Empty:
            return None
        self._busy = False
        if isinstance(found, Exception):
            raise found
        return found


def annotate_video(analyzer: FrameAnalyzer, capture: cv2.VideoCapture, output: str | Path | None = None,
                   display: bool = False, every: int = 1, smoothing: float | None = None, live: bool = False,
                   full_every: int = 1) -> tuple[int, int, float]:
    """Annotates frames until the stream ends (or ``q`` in the window); returns (frames, analysed frames, fps).

    Only every ``every``-th frame is analysed; the frames between reuse its faces and predictions. ``smoothing``
    (0-1, e.g. 0.8): each face's age, gender and race averaged over the frames of its track (facekit.vision.tracking).
    ``live`` (a camera): frames are shown as they come and analysed in the background (see the module's note).
    ``full_every``: an analysed frame is searched whole this often, else only around the faces of the one before
    (facekit.vision.region_search; 1: every frame whole).
    The banner shows frames shown per second and frames analysed per second.
    Releases the capture and the writer whatever happens.
    """
    fps = capture.get(cv2.CAP_PROP_FPS)
    fps = fps if fps and fps > 0 else FALLBACK_FPS
    writer: cv2.VideoWriter | None = None
    results: list[FaceResult] = []
    frames, analysed = 0, 0
    shown_rate, analysis_rate, analyses_per_second = FrameRate(), FrameRate(), 0.0
    tracks = FaceTracks(smoothing) if smoothing else None
    reader = FrameReader(capture, live=live)
    search = RegionSearch(analyzer.detector, full_every)
    background = BackgroundAnalysis(analyzer, search) if live else None
    started = time.perf_counter()
    outputs = contextlib.ExitStack()  # the video is written beside its name, which it replaces only once checked
    partial = outputs.enter_context(_replacing(output)) if output is not None else None
    try:
        while True:
            ok, frame_bgr = reader.read()
            if not ok:
                break
            frame = cast(Frame, cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB))
            found = None
            if background is None:
                if frames % every == 0:
                    found = analyzer.analyze(frame, search=search)
            else:
                found = background.results()
                if frames % every == 0:
                    background.submit(frame)
            if found is not None:
                results = tracks.update(found) if tracks else found
                analysed += 1
                analyses_per_second = analysis_rate.tick()
            frames += 1
            annotated = annotate(frame, results)
            draw_fps(annotated, shown_rate.tick(), analyses_per_second)
            annotated_bgr = cv2.cvtColor(annotated, cv2.COLOR_RGB2BGR)
            if partial is not None:
                writer = writer or open_writer(partial, fps, annotated_bgr.shape, named=output)
                writer.write(annotated_bgr)
            if display:
                cv2.imshow(WINDOW, annotated_bgr)
                if cv2.waitKey(1) & 0xFF == ord("q"):
                    break
        if background is not None and background.results(wait=True) is not None:
            analysed += 1  # the last frame submitted, finished after the stream ended
        if writer is not None:
            writer.release()
            writer = None
            assert partial is not None and output is not None  # a writer is opened only for an output
            check_written(partial, output, frames)
        if frames == 0:
            raise FaceKitError("the source gave no frame")
        outputs.close()  # the checked video replaces the output (or is written into a FIFO or device)
    except BaseException:
        outputs.__exit__(*sys.exc_info())  # the partial file is removed; an existing output stays as it was
        raise
    finally:
        reader.close()
        capture.release()
        if writer is not None:
            writer.release()
        if display:
            cv2.destroyAllWindows()
    return frames, analysed, frames / (time.perf_counter() - started)


@contextlib.contextmanager
def _replacing(output: str | Path) -> Iterator[Path]:
    """``facekit.core.outputs.replacing``, its OSError (a FIFO nobody reads, a full device) as one line."""
    try:
        with replacing(output) as partial:
            yield partial
    except OSError as error:
        raise FaceKitError(f"cannot write video {output}: {error.strerror or error}") from error
