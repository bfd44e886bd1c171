"""Video for the demo: open a webcam or file, annotate its frames, show and/or write them, measure frame rate.

OpenCV reads and writes BGR frames; FaceAnalyzer and drawing work in RGB, so each frame is converted once each way.
"""
import os
import sys
import time
from pathlib import Path

import cv2

from facekit.drawing import annotate, draw_fps
from facekit.errors import FaceKitError

WINDOW = "face_video_demo (q to quit)"
FALLBACK_FPS = 30.0  # webcams often report 0 frames per second
FOURCC = "mp4v"


def open_capture(source):
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


def open_writer(path, fps, frame_shape):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = frame_shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*FOURCC), fps, (width, height))
    if not writer.isOpened():
        raise FaceKitError(f"cannot write video {path} (try a .mp4 file name)")
    return writer


def display_available():
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

    def __init__(self, smoothing=0.9):
        self.smoothing = smoothing
        self._frame_time = None
        self._last = time.perf_counter()

    def tick(self):
        now = time.perf_counter()
        elapsed, self._last = now - self._last, now
        if self._frame_time is None:
            self._frame_time = elapsed
        else:
            self._frame_time = self.smoothing * self._frame_time + (1 - self.smoothing) * elapsed
        return 1.0 / max(self._frame_time, 1e-9)


def annotate_video(analyzer, capture, output=None, display=False, every=1):
    """Annotates frames until the stream ends (or ``q`` in the window); returns (frames, analysed frames, fps).

    Only every ``every``-th frame is analysed; the frames between reuse its faces and predictions.
    Releases the capture and the writer whatever happens.
    """
    fps = capture.get(cv2.CAP_PROP_FPS)
    fps = fps if fps and fps > 0 else FALLBACK_FPS
    writer, results, frames, analysed = None, [], 0, 0
    frame_rate = FrameRate()
    started = time.perf_counter()
    try:
        while True:
            ok, frame_bgr = capture.read()
            if not ok:
                break
            frame = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)
            if frames % every == 0:
                results = analyzer.analyze(frame)
                analysed += 1
            frames += 1
            annotated = annotate(frame, results)
            draw_fps(annotated, frame_rate.tick())
            annotated_bgr = cv2.cvtColor(annotated, cv2.COLOR_RGB2BGR)
            if output is not None:
                writer = writer or open_writer(output, fps, annotated_bgr.shape)
                writer.write(annotated_bgr)
            if display:
                cv2.imshow(WINDOW, annotated_bgr)
                if cv2.waitKey(1) & 0xFF == ord("q"):
                    break
    finally:
        capture.release()
        if writer is not None:
            writer.release()
        if display:
            cv2.destroyAllWindows()
    if frames == 0:
        raise FaceKitError("the source gave no frame")
    return frames, analysed, frames / (time.perf_counter() - started)
