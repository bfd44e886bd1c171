"""face_video_demo.py on a short video of real faces: same frame count, size and rate out; clear errors."""
import os
import re
import threading

import cv2
import numpy as np
import pytest

import face_video_demo
from facekit.apps import video
from facekit.apps.video import FrameRate
from facekit.infer.results import FaceResult, Prediction
from facekit.vision.drawing import draw_fps, text_box_size
from tests.face_scenes import YUNET_MODEL, compose

FRAMES, FPS, SIZE = 12, 10.0, (480, 360)


@pytest.fixture(scope="module")
def face_video(tmp_path_factory):
    """Two real faces drifting right by 6 pixels a frame, written with cv2.VideoWriter (mp4v)."""
    path = tmp_path_factory.mktemp("video") / "faces.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, SIZE)
    for frame in range(FRAMES):
        image, _ = compose(SIZE[::-1], [(0, 20 + 6 * frame, 80, 140), (2, 260 + 6 * frame, 100, 120)])
        writer.write(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def video_properties(path):
    capture = cv2.VideoCapture(str(path))
    frames = 0
    while capture.read()[0]:
        frames += 1
    size = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    fps = capture.get(cv2.CAP_PROP_FPS)
    capture.release()
    return frames, size, fps


def run_video_demo(argv):
    with pytest.raises(SystemExit) as exit_info:
        face_video_demo.main([str(a) for a in argv])
    return exit_info.value.code


def test_output_video_keeps_frame_count_size_and_rate(face_video, tmp_path, tiny_model_file, capsys):
    output = tmp_path / "annotated.mp4"
    assert run_video_demo(["--source", face_video, "--output", output, "--no-display", "--every", "3",
                           "--model", tiny_model_file, "--detector", "yunet", "--detector-model", YUNET_MODEL]) == 0
    captured = capsys.readouterr()
    assert f"{FRAMES} frames (4 analysed)" in captured.out and "warning" not in captured.err
    frames, size, fps = video_properties(output)
    assert (frames, size) == (FRAMES, SIZE)
    assert fps == pytest.approx(FPS)
    # Frames differ from the input where boxes and the FPS banner are drawn.
    original, annotated = cv2.VideoCapture(str(face_video)), cv2.VideoCapture(str(output))
    difference = np.abs(original.read()[1].astype(int) - annotated.read()[1].astype(int)).sum(axis=2)
    assert (difference[:15, :60] > 100).mean() > 0.5  # the banner
    assert (difference[:, 20:22] > 60).any() and (difference[:, 300:400] > 60).any()  # both faces' boxes


@pytest.mark.parametrize("argv, expected", [
    (["--source", "missing.mp4", "--output", "out.mp4"], "video file not found: missing.mp4"),
    (["--source", "7", "--output", "out.mp4"], "cannot open camera 7"),
    (["--source", "0"], "pass --output FILE"),
    (["--source", "0", "--output", "/proc/nope/out.mp4"], "cannot write to the folder /proc/nope (--output)"),
])
def test_errors_exit_2_with_one_line(argv, expected, tmp_path, tiny_model_file, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert run_video_demo([*argv, "--model", tiny_model_file, "--no-display"]) == 2
    [line] = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert expected in line
    assert not (tmp_path / "out.mp4").exists()


def test_existing_output_is_refused(tmp_path, tiny_model_file, capsys):
    output = tmp_path / "taken.mp4"
    output.write_bytes(b"keep me")
    assert run_video_demo(["--source", tmp_path / "clip.mp4", "--output", output, "--no-display",
                           "--model", tiny_model_file]) == 2
    assert "already exists" in capsys.readouterr().err and output.read_bytes() == b"keep me"


def test_frame_rate_is_smoothed_over_frame_times(monkeypatch):
    clock = iter([0.0, 0.1, 0.3])  # frames take 0.1 s, then 0.2 s
    monkeypatch.setattr("facekit.apps.video.time.perf_counter", lambda: next(clock))
    meter = FrameRate(smoothing=0.9)
    assert meter.tick() == pytest.approx(10.0)
    assert meter.tick() == pytest.approx(1 / (0.9 * 0.1 + 0.1 * 0.2))


def test_banner_shows_the_display_and_the_analysis_rate():
    small = np.full((60, 400, 3), 128, np.uint8)
    draw_fps(small, 30.0, 10.0)
    assert text_box_size(small, "30.0 FPS, analysed 10.0/s")[0] > text_box_size(small, "30.0 FPS")[0]
    assert (small[5, text_box_size(small, "30.0 FPS")[0] + 5] == 0).all()  # the banner reaches past the first part


class LockstepCamera:
    """A camera of ``count`` frames whose next frame comes only once the previous one was shown (``shown``
    released): none dropped, whatever the machine's load."""

    def __init__(self, count):
        self.left, self.shown = count, threading.Semaphore(1)

    def get(self, prop):
        return FPS

    def read(self):
        assert self.shown.acquire(timeout=10), "the previous frame was never shown"
        if self.left == 0:
            return False, None
        self.left -= 1
        return True, np.full((120, 160, 3), 40 + 8 * self.left, np.uint8)

    def release(self):
        pass


class GatedAnalyzer:
    """Finds one face, but its first analysis returns only once ``SHOWN_FIRST`` frames were shown."""
    SHOWN_FIRST = 5

    detector = None  # its faces are made up: no detector, and the region search is never asked

    def __init__(self):
        self.calls, self.gate, self.waited = 0, threading.Event(), None

    def analyze(self, frame, search=None):
        if self.calls == 0:
            self.waited = self.gate.wait(timeout=10)
        self.calls += 1
        prediction = Prediction(30.0, 3.0, {"male": 0.1, "female": 0.9}, {"White": 1.0}, {})
        return [FaceResult((10, 10, 50, 50), 0.9, None, prediction)]


def test_live_source_is_shown_while_the_analysis_runs_behind(tmp_path, monkeypatch):
    """A camera's frames do not wait for the analysis: frames are shown while the first one is analysed, all of
    them drawn and written."""
    camera, analyzer, shown, draw = LockstepCamera(FRAMES), GatedAnalyzer(), [], video.annotate

    def annotate_and_count(frame, results):
        shown.append(len(results))
        if len(shown) == GatedAnalyzer.SHOWN_FIRST:
            analyzer.gate.set()
        camera.shown.release()
        return draw(frame, results)

    monkeypatch.setattr(video, "annotate", annotate_and_count)
    frames, analysed, _ = video.annotate_video(analyzer, camera, tmp_path / "live.mp4", live=True, smoothing=0.8)
    assert analyzer.waited is True  # the first analysis ended because frames were shown meanwhile
    assert frames == FRAMES and shown[:GatedAnalyzer.SHOWN_FIRST] == [0] * GatedAnalyzer.SHOWN_FIRST
    assert 1 <= analysed == analyzer.calls <= FRAMES - GatedAnalyzer.SHOWN_FIRST + 1
    assert video_properties(tmp_path / "live.mp4")[0] == FRAMES


@pytest.mark.parametrize("option, value, expected", [
    ("--every", "0", "argument --every: must be 1 or more, not 0"),
    ("--smooth", "1.5", "argument --smooth: must be at least 0 and less than 1, not 1.5"),
    ("--smooth", "1", "argument --smooth: must be at least 0 and less than 1, not 1"),
    ("--smooth", "nan", "argument --smooth: must be at least 0 and less than 1, not nan"),
    ("--min-score", "nan", "argument --min-score: must be a finite number, not nan"),
    ("--crop-scale", "nan", "argument --crop-scale: must be more than 0, not nan"),
    ("--crop-scale", "0", "argument --crop-scale: must be more than 0, not 0"),
])
def test_out_of_range_options_are_refused_by_the_parser(option, value, expected, capsys):
    with pytest.raises(SystemExit) as exit_info:
        face_video_demo.parse_args(["--source", "0", option, value])
    assert exit_info.value.code == 2 and expected in capsys.readouterr().err


def test_smooth_and_min_score_in_range_are_taken():
    args = face_video_demo.parse_args(["--source", "0", "--smooth", "0", "--min-score", "-1.5", "--every", "2"])
    assert (args.smooth, args.min_score, args.every) == (0.0, -1.5, 2)
    assert face_video_demo.parse_args(["--source", "0", "--smooth"]).smooth == 0.8


def test_an_output_hard_linked_to_the_input_is_the_input(tmp_path, tiny_model_file, capsys):
    clip = tmp_path / "clip.avi"
    write_clip(clip, 4)
    os.link(clip, tmp_path / "same.avi")
    before = clip.read_bytes()
    assert run_video_demo(["--source", clip, "--output", tmp_path / "same.avi", "--overwrite", "--no-display",
                           "--model", tiny_model_file, "--detector", "haar"]) == 2
    assert "is the input" in capsys.readouterr().err and clip.read_bytes() == before


def write_clip(path, frames):
    """A plain MJPG AVI of ``frames`` gray frames (plumbing: no faces needed)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (160, 120))
    for index in range(frames):
        writer.write(np.full((120, 160, 3), 40 + 8 * index, np.uint8))
    writer.release()


def test_a_truncated_video_is_reported_with_the_frames_promised_and_read(tmp_path, tiny_model_file, capsys):
    whole, cut = tmp_path / "whole.avi", tmp_path / "cut.avi"
    write_clip(whole, 20)
    cut.write_bytes(whole.read_bytes()[:whole.stat().st_size // 2])
    common = ["--no-display", "--model", tiny_model_file, "--detector", "haar"]
    assert run_video_demo(["--source", whole, "--output", tmp_path / "whole.mp4", *common]) == 0
    assert "warning" not in capsys.readouterr().err
    assert run_video_demo(["--source", cut, "--output", tmp_path / "cut.mp4", *common]) == 1
    captured = capsys.readouterr()
    read = int(re.search(r"^(\d+) frames", captured.out, re.M).group(1))
    assert 0 < read < 20
    assert f"warning: {cut}: its header promises 20 frames, {read} could be read (the file may be truncated)" \
        in captured.err
    assert video_properties(tmp_path / "cut.mp4")[0] == read  # what could be read is written


def _demo(face_video, output, tiny_model_file, *extra):
    return run_video_demo(["--source", face_video, "--output", output, "--no-display", "--every", "5",
                           "--model", tiny_model_file, "--detector", "haar", *extra])


def test_a_video_the_writer_silently_failed_to_write_never_replaces_a_good_one(face_video, tmp_path, tiny_model_file,
                                                                            monkeypatch, capsys):
    """Onto a full disk the demo said "20 frames ... -> o.mp4", exited 0 and left an unreadable file; with
    --overwrite a good video was replaced by it (issue 28). A writer that drops every frame stands for the disk."""
    output = tmp_path / "o.mp4"
    assert _demo(face_video, output, tiny_model_file) == 0
    good = output.read_bytes()

    class Dropping:
        def __init__(self, writer):
            self.writer = writer

        def write(self, frame):
            pass

        def release(self):
            self.writer.release()

    real_open = video.open_writer
    monkeypatch.setattr(video, "open_writer", lambda *args, **kwargs: Dropping(real_open(*args, **kwargs)))
    assert _demo(face_video, output, tiny_model_file, "--overwrite") == 2
    err = capsys.readouterr().err
    assert f"cannot write video {output}: the file written holds 0 of {FRAMES} frames" in err
    assert output.read_bytes() == good and sorted(p.name for p in tmp_path.iterdir()) == ["o.mp4"]


def test_a_fifo_output_nobody_reads_is_one_line_and_kept(face_video, tmp_path, tiny_model_file, capsys):
    """It blocked for ever, or said "(try a .mp4 file name)" and deleted the FIFO (issue 28)."""
    fifo = tmp_path / "o.mp4"
    os.mkfifo(fifo)
    assert _demo(face_video, fifo, tiny_model_file, "--overwrite") == 2
    assert f"cannot write video {fifo}: nothing reads the FIFO" in capsys.readouterr().err
    assert fifo.is_fifo()
