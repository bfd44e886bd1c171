"""Demo speed on this machine: photo latency (detect + crop + predict) with 1 and 10 faces, and video frames/s.

    .venv/bin/python -m benchmarks.bench_demo [--backbone simple_cnn] [--input-size N] [--repeats 5]

The repository's real face (benchmarks/scenes.py) is placed on gray canvases (1 face on 640x480, 10 on 1280x720);
the video is 60 frames of 640x480 with two faces, analysed at every frame. The model is untrained: its speed is
that of a trained one.
"""
import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import cv2

from benchmarks.scenes import DETECTOR_MODELS, SCENE_FACES, compose, lacks_model_file, scene_detector
from facekit.apps.video import annotate_video
from facekit.backbones.model import build_model
from facekit.infer.analyzer import FaceAnalyzer
from facekit.vision.detectors import DETECTORS

VIDEO_FRAMES, VIDEO_SIZE, VIDEO_FPS = 60, (640, 480), 25.0


def scenes():
    one, _ = compose((480, 640), [(0, 220, 140, 200)])
    ten, _ = compose((720, 1280), [(i % SCENE_FACES, 40 + 245 * (i % 5), 60 + 330 * (i // 5), 170)
                                   for i in range(10)])
    return {"1 face, 640x480": one, "10 faces, 1280x720": ten}


def write_video(path):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), VIDEO_FPS, VIDEO_SIZE)
    for frame in range(VIDEO_FRAMES):
        image, _ = compose(VIDEO_SIZE[::-1], [(0, 60 + frame, 120, 180), (3, 380 + frame, 140, 160)])
        writer.write(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    writer.release()


def photo_latency(analyzer, image, repeats):
    """Median seconds of analyze() after one warm-up call; also the number of faces it found."""
    found = len(analyzer.analyze(image))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        analyzer.analyze(image)
        times.append(time.perf_counter() - start)
    return statistics.median(times), found


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", default="simple_cnn")
    parser.add_argument("--input-size", type=int, default=None, help="default: the backbone's natural size")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    model = build_model(args.backbone, input_shape=None if args.input_size is None else (args.input_size,) * 2 + (3,))
    size = model.input_shape[1]
    print(f"model: {args.backbone} {size}x{size}; CPU cores: {os.cpu_count()}; "
          f"load average: {os.getloadavg()[0]:.2f}")
    photos = scenes()
    with tempfile.TemporaryDirectory() as folder:
        video = Path(folder) / "faces.mp4"
        write_video(video)
        print("| detector | " + " | ".join(photos) + " | video 640x480, frames/s |")
        print("|---|" + "---|" * (len(photos) + 1))
        for name in DETECTORS:
            if lacks_model_file(name):
                print(f"| {name} | model file missing: {DETECTOR_MODELS.get(name)} |")
                continue
            analyzer = FaceAnalyzer(model, scene_detector(name))
            cells = []
            for image in photos.values():
                seconds, found = photo_latency(analyzer, image, args.repeats)
                cells.append(f"{seconds * 1000:.0f} ms ({found} found)")
            _, _, fps = annotate_video(analyzer, cv2.VideoCapture(str(video)), Path(folder) / f"{name}.mp4")
            print(f"| {name} | " + " | ".join(cells) + f" | {fps:.1f} |")


if __name__ == "__main__":
    main()
