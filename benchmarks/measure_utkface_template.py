"""Measures where a detector's landmarks and boxes fall in UTKFace's aligned 200x200 crops (the crop geometry in
facekit/vision/detectors/__init__.py).

    .venv/bin/python -m benchmarks.measure_utkface_template --detector yunet \
        --detector-model ../shared/models/face_detector_yunet/face_detection_yunet_2023mar.onnx
    .venv/bin/python -m benchmarks.measure_utkface_template --detector ssd \
        --detector-model ../shared/models/face_detector_opencv_ssd_uint8/opencv_face_detector_uint8.pb

UTKFace faces fill their crop, which detectors handle badly, so each crop is first padded with a gray border and
the detections are mapped back into crop coordinates. Prints the mean of the five landmarks (the alignment
template) and, for the box fallback, the crop side over the box's longer side and the crop centre's offset from
the box centre in box sides (medians, with their interquartile range).
"""
import argparse
from pathlib import Path

import cv2
import numpy as np

from facekit.core.paths import shared_dir
from facekit.vision.crop import UTKFACE_SIZE
from facekit.vision.detectors import create_detector
from facekit.vision.images import read_image

UTKFACE = shared_dir() / "data" / "utkface" / "UTKFace"

PAD = 100  # gray border on each side: the 200x200 face then covers a quarter of the 400x400 image
PAD_GRAY = (128, 128, 128)


def sample_paths(folder, count):
    """``count`` files spread evenly over the sorted names, so every age (the name's prefix) is represented."""
    paths = sorted(Path(folder).glob("*.jpg"))
    if not paths:
        raise SystemExit(f"no UTKFace images in {folder}")
    return [paths[i] for i in np.linspace(0, len(paths) - 1, min(count, len(paths))).astype(int)]


def measure(detector, paths):
    landmarks, scales, shifts = [], [], []
    for path in paths:
        crop = read_image(path)
        padded = cv2.copyMakeBorder(crop, PAD, PAD, PAD, PAD, cv2.BORDER_CONSTANT, value=PAD_GRAY)
        faces = detector.detect(padded)
        if len(faces) != 1:  # none or ambiguous: the face in this crop is not known for sure
            continue
        x, y, w, h = faces[0].box
        side = max(w, h)
        crop_centre = PAD + UTKFACE_SIZE / 2
        scales.append(UTKFACE_SIZE / side)
        shifts.append(((crop_centre - (x + w / 2)) / side, (crop_centre - (y + h / 2)) / side))
        if faces[0].landmarks is not None:
            landmarks.append(faces[0].landmarks - PAD)
    return np.array(landmarks), np.array(scales), np.array(shifts)


def describe(name, values):
    q1, median, q3 = np.percentile(values, [25, 50, 75], axis=0)
    return (f"{name}: median {np.round(median, 3).tolist()}  "
            f"(IQR {np.round(q1, 3).tolist()} .. {np.round(q3, 3).tolist()})")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--utkface", default=UTKFACE, help="folder of UTKFace's aligned & cropped JPEGs")
    parser.add_argument("--detector", default="yunet")
    parser.add_argument("--detector-model", default=None)
    parser.add_argument("--count", type=int, default=400, help="how many images to sample")
    args = parser.parse_args()

    detector = create_detector(args.detector, args.detector_model)
    paths = sample_paths(args.utkface, args.count)
    landmarks, scales, shifts = measure(detector, paths)
    print(f"{args.detector}: one face found in {len(scales)} of {len(paths)} padded UTKFace crops")
    print(describe("crop side / box side", scales))
    print(describe("crop centre - box centre (x, y) in box sides", shifts))
    if len(landmarks):
        mean = landmarks.mean(axis=0)
        spread = landmarks.std(axis=0).mean()
        print(f"landmark template in the {UTKFACE_SIZE}x{UTKFACE_SIZE} crop (mean of {len(landmarks)}; "
              f"mean per-point std {spread:.1f} px):")
        print(np.array2string(mean, precision=1, separator=", "))


if __name__ == "__main__":
    main()
