"""The demos as a user runs them, a fresh process each time: wall time and peak memory of face_demo.py on a photo,
and face_video_demo.py's frames per second, for one model as .keras (Keras), .tflite (LiteRT) and .onnx (ONNX
Runtime), with the default detector (YuNet).

    .venv/bin/python -m benchmarks.bench_runtimes [--model face_weights/default/dlib_resnet_150px.keras] [--repeats 3]
    .venv/bin/python -m benchmarks.bench_runtimes --backbone vggface2_resnet50 --input-size 200   # untrained
    .venv/bin/python -m benchmarks.bench_runtimes --formats .tflite --min-face 40 56 --repeats 5   # settings A/B
    .venv/bin/python -m benchmarks.bench_runtimes --formats .tflite --tta none flip --repeats 5

The .tflite, .onnx (and .int8.onnx) files are exported from the .keras one into a temporary folder (the shipped
default's .tflite is the same export); runs of the formats alternate, so that they share the machine's load. Photos: the
repository's real face on gray canvases (1 face on 640x480, 10 on 1280x720, as benchmarks/bench_demo.py); video:
90 frames of 640x480 with one face, every frame analysed. Wall and peak memory come from /usr/bin/time (elapsed,
maximum RSS).
"""
import argparse
import itertools
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2

from benchmarks.bench_demo import scenes
from benchmarks.scenes import compose
from facekit.backbones.model import build_model
from facekit.core import paths
from facekit.export.exporter import export_model
from facekit.infer.tta import TTA
from facekit.vision.images import write_image

PROJECT = Path(__file__).resolve().parents[1]
VIDEO_FRAMES = 90


def write_video(path):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (640, 480))
    for frame in range(VIDEO_FRAMES):
        image, _ = compose((480, 640), [(0, 200 + frame, 120, 200)])
        writer.write(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    writer.release()


def timed(command):
    """Runs ``command`` under /usr/bin/time -> (wall seconds, peak MB, its stdout)."""
    result = subprocess.run(["/usr/bin/time", "-f", "TIME %e %M", *command], cwd=PROJECT, capture_output=True,
                            text=True)
    if result.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{result.stderr[-2000:]}")
    wall, kilobytes = re.search(r"TIME ([\d.]+) (\d+)", result.stderr).groups()
    return float(wall), int(kilobytes) / 1024, result.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(paths.default_model(".keras")))
    parser.add_argument("--backbone", default=None, help="instead of --model: an untrained model of this backbone")
    parser.add_argument("--input-size", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--min-face", type=int, nargs="+", default=None,
                        help="passed to both demos (40: YuNet at full resolution, as before --min-face existed); "
                             "several: runs alternate between them, a row each")
    parser.add_argument("--tta", nargs="+", default=None, choices=TTA,
                        help="passed to both demos; several: runs alternate between them, a row each")
    parser.add_argument("--formats", nargs="+", default=[".keras", ".tflite", ".onnx"],
                        choices=[".keras", ".tflite", ".onnx", ".int8.onnx"],
                        help="the model files to time (default: the first three; .int8.onnx: face.py --export "
                             "--format onnx --quantize int8)")
    args = parser.parse_args()
    min_faces = [[]] if args.min_face is None else [["--min-face", str(px)] for px in args.min_face]
    ttas = [[]] if args.tta is None else [["--tta", tta] for tta in args.tta]
    settings = {" ".join(["", *a, *b]): [*a, *b] for a, b in itertools.product(min_faces, ttas)}
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        keras_file = Path(args.model)
        if args.backbone:
            size = args.input_size
            keras_file = folder / f"{args.backbone}.keras"
            build_model(args.backbone, input_shape=None if size is None else (size, size, 3)).save(keras_file)
        models = {}  # only the formats asked for; the .keras is the export's source either way
        for suffix in args.formats:
            if suffix == ".keras":
                models[suffix] = keras_file
                continue
            fmt = {".tflite": "litert", ".onnx": "onnx", ".int8.onnx": "onnx"}[suffix]
            quantize = "int8" if suffix == ".int8.onnx" else None
            models[suffix], worst = export_model(keras_file, fmt, output=folder / f"model{suffix}", quantize=quantize,
                                                 accept_error=bool(args.backbone))  # an untrained model's error
            print(f"exported {suffix}: largest difference from Keras {worst:.1e}")
        photos = {}
        for index, (name, image) in enumerate(scenes().items()):
            photos[name] = folder / f"photo{index}.jpg"
            write_image(photos[name], image)
        video = folder / "one_face.mp4"
        write_video(video)
        python = sys.executable
        runs = {}
        for _ in range(args.repeats):
            # alternate the runtimes and settings: they share the machine's load equally
            for (suffix, model), (setting, options) in itertools.product(models.items(), settings.items()):
                row = suffix + setting
                for name, photo in photos.items():
                    command = [python, "face_demo.py", str(photo), "--model", str(model), "--output",
                               str(folder / "out.jpg"), "--overwrite", *options]
                    runs.setdefault((row, name), []).append(timed(command)[:2])
                command = [python, "face_video_demo.py", "--source", str(video), "--output", str(folder / "out.mp4"),
                           "--overwrite", "--no-display", "--model", str(model), *options]
                wall, peak, out = timed(command)
                fps = float(re.search(r"at ([\d.]+) frames per second", out).group(1))
                runs.setdefault((row, "video"), []).append((wall, peak, fps))
        rows = list(dict.fromkeys(row for row, _ in runs))  # in the order they ran
        print(f"model {keras_file.name if not args.backbone else args.backbone} "
              f"({args.input_size or 'natural'} px), {args.repeats} runs each, medians")
        for name in photos:
            for row in rows:
                walls, peaks = zip(*runs[(row, name)])
                print(f"face_demo.py, {name:18} {row:7} wall {statistics.median(walls):5.2f} s   "
                      f"peak {statistics.median(peaks):5.0f} MB")
        for row in rows:
            walls, peaks, fps = zip(*runs[(row, "video")])
            print(f"face_video_demo.py, 640x480, {VIDEO_FRAMES} frames, every frame {row:7} "
                  f"{statistics.median(fps):5.1f} frames/s   (process wall {statistics.median(walls):5.2f} s, "
                  f"peak {statistics.median(peaks):4.0f} MB)")


if __name__ == "__main__":
    main()
