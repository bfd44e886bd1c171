"""Detect less in video: the video demo searching the whole of every frame (--full-every 1) against searching around
the faces found a frame before (the default), on a 640x480 clip of one moving real face (the repository's).

    .venv/bin/python -m benchmarks.bench_video [--frames 250] [--repeats 3] [--full-every 1 5 10 20]

Prints, in this process: the faces each setting finds on every frame and how far their labels are from the whole-frame
search's (age in years, gender flips), and the milliseconds an analysed frame costs; then face_video_demo.py run as a
user runs it (a fresh process, start-up included), the settings alternating so that they share the machine's load:
frames per second as the demo reports it, and frames / process wall time.
"""
import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from benchmarks.scenes import FACE_PHOTO
from facekit.infer.analyzer import FaceAnalyzer
from facekit.vision.images import read_image
from facekit.vision.region_search import RegionSearch

PROJECT = Path(__file__).resolve().parents[1]


def clip_frames(count, side=200):
    """The repository's face, ``side`` pixels, drifting right and down and back on a gray 640x480 canvas."""
    face = cv2.resize(read_image(FACE_PHOTO), (side, side), interpolation=cv2.INTER_AREA)
    frames = []
    for index in range(count):
        phase = index % 120 if index % 240 < 120 else 120 - index % 120
        frame = np.full((480, 640, 3), 128, np.uint8)
        x, y = 120 + 2 * phase, 80 + phase // 2
        frame[y:y + side, x:x + side] = face
        frames.append(frame)
    return frames


def in_process(frames, settings):
    """{setting: (faces per frame, ages, genders, ms per frame)} through one FaceAnalyzer (the default model)."""
    analyzer = FaceAnalyzer()
    results = {}
    for full_every in settings:
        search = RegionSearch(analyzer.detector, full_every)
        faces, ages, genders = [], [], []
        started = time.perf_counter()
        for frame in frames:
            found = analyzer.analyze(frame, search=search)
            faces.append(len(found))
            ages.append(found[0].age if found else np.nan)
            genders.append(found[0].gender if found else None)
        milliseconds = 1000 * (time.perf_counter() - started) / len(frames)
        results[full_every] = (faces, np.array(ages), genders, milliseconds, search.full_searches)
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=250)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--full-every", type=int, nargs="+", default=[1, 10])
    args = parser.parse_args()
    frames = clip_frames(args.frames)
    results = in_process(frames, args.full_every)
    base_faces, base_ages, base_genders, base_ms, _ = results[args.full_every[0]]
    print(f"in process, {args.frames} frames of 640x480, one face; against --full-every {args.full_every[0]}:")
    for setting, (faces, ages, genders, ms, full) in results.items():
        flips = sum(a != b for a, b in zip(genders, base_genders))
        same = sum(a == b for a, b in zip(faces, base_faces))
        print(f"  --full-every {setting:3}: {ms:5.1f} ms a frame ({base_ms / ms:4.2f}x), whole-frame searches {full}, "
              f"same face count on {same}/{len(frames)} frames, age off by at most "
              f"{np.nanmax(np.abs(ages - base_ages)):.2f} years (mean {np.nanmean(np.abs(ages - base_ages)):.2f}), "
              f"{flips} gender flips")
    with tempfile.TemporaryDirectory() as folder:
        video = Path(folder) / "clip.mp4"
        writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (640, 480))
        for frame in frames:
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        writer.release()
        runs = {setting: [] for setting in args.full_every}
        for _ in range(args.repeats):
            for setting in args.full_every:
                started = time.perf_counter()
                result = subprocess.run([sys.executable, "face_video_demo.py", "--source", str(video), "--output",
                                         str(Path(folder) / "out.mp4"), "--overwrite", "--no-display",
                                         "--full-every", str(setting)], cwd=PROJECT, capture_output=True, text=True)
                wall = time.perf_counter() - started
                if result.returncode != 0:
                    sys.exit(result.stderr[-2000:])
                fps = float(re.search(r"at ([\d.]+) frames per second", result.stdout).group(1))
                runs[setting].append((fps, args.frames / wall, wall))
    print(f"face_video_demo.py, {args.frames} frames, {args.repeats} runs each alternating, medians:")
    for setting, values in runs.items():
        fps, with_startup, wall = (statistics.median(v) for v in zip(*values))
        print(f"  --full-every {setting:3}: {fps:5.1f} frames/s reported, {with_startup:5.1f} frames/s with start-up "
              f"({wall:5.2f} s for the whole command)")


if __name__ == "__main__":
    main()
