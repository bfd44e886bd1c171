"""Which crop should dlib's ResNet see? Frozen 256-d features + ridge heads, three crop geometries of UTKFace.

    .venv/bin/python -m benchmarks.dlib_crop_probe [--train 4000] [--test 1000]

dlib's network was pretrained on 150x150 chips cut by dlib's ``get_face_chip(size=150, padding=0.25)`` on its
5-point landmarks. ``../shared/models/dlib_face_recognition`` holds 24 such chips of UTKFace faces. From them
this script measures the mean similarity transform from UTKFace's 200x200 crops to dlib's chips (YuNet landmarks
on both), then compares, on the fixed split, what a linear read-out of the frozen network gets from:
  resize   UTKFace's 200x200 crop resized to 150x150
  chip     the same crop warped by the mean UTKFace -> dlib chip transform (one fixed warp for every image)
  aligned  each image aligned by its own YuNet landmarks onto dlib's chip template (as dlib itself would)
"""
import argparse
import time

import cv2
import numpy as np

from facekit.backbones.dlib_resnet import dlib_resnet
from facekit.backbones.dlib_weights import load_dlib_weights
from facekit.backbones.preprocessing import preprocess_input
from facekit.core import paths
from facekit.data.datasets import read_dataset
from facekit.data.samples import split
from facekit.vision.detectors import create_detector
from facekit.vision.images import read_image

SHARED = paths.shared_dir()
DLIB_DIR = SHARED / "models" / "dlib_face_recognition"
UTKFACE = SHARED / "data" / "utkface" / "UTKFace"


class Landmarks:
    """The five YuNet landmarks of the most confident face (the shipped detector), on a gray border: UTKFace's
    crops and dlib's chips are close-ups."""

    def __init__(self):
        self.detector = create_detector("yunet", min_score=0.5)

    def __call__(self, image_rgb, pad):
        image = cv2.copyMakeBorder(image_rgb, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(128, 128, 128))
        faces = self.detector.detect(image)
        if not faces:
            return None
        return max(faces, key=lambda face: face.score).landmarks - pad


def chip_geometry(landmarks):
    """Mean UTKFace->chip transform and dlib's chip template in YuNet landmarks, from the 24 reference chips."""
    reference = np.load(DLIB_DIR / "dlib_reference_descriptors.npz")
    matrices, chip_points = [], []
    for chip, name in zip(reference["chips"], reference["names"]):
        a, b = landmarks(read_image(UTKFACE / str(name)), 100), landmarks(chip, 75)
        if a is None or b is None:
            continue
        matrices.append(cv2.estimateAffinePartial2D(a, b)[0])
        chip_points.append(b)
    return np.mean(matrices, axis=0), np.mean(chip_points, axis=0), len(matrices)


def crops(paths, geometry, matrix, template, landmarks):
    out = np.empty((len(paths), 150, 150, 3), np.uint8)
    missed = 0
    for i, path in enumerate(paths):
        image = read_image(path)
        if geometry == "resize":
            out[i] = cv2.resize(image, (150, 150), interpolation=cv2.INTER_AREA)
            continue
        m = matrix
        if geometry == "aligned":
            points = landmarks(image, 100)
            if points is None:
                missed += 1
            else:
                m = cv2.estimateAffinePartial2D(points, template, method=cv2.LMEDS)[0]
        out[i] = cv2.warpAffine(image, m, (150, 150), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
    return out, missed


def ridge(x, y, lam=1.0):
    x = np.hstack([x, np.ones((len(x), 1), x.dtype)])
    return np.linalg.solve(x.T @ x + lam * np.eye(x.shape[1]), x.T @ y)


def apply(w, x):
    return np.hstack([x, np.ones((len(x), 1), x.dtype)]) @ w


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--train", type=int, default=4000)
    parser.add_argument("--test", type=int, default=1000)
    args = parser.parse_args()
    landmarks = Landmarks()
    matrix, template, n = chip_geometry(landmarks)
    scale = np.sqrt(np.linalg.det(matrix[:, :2]))
    print(f"UTKFace -> dlib chip, mean over {n} reference chips: scale {scale:.3f}, "
          f"rotation {np.degrees(np.arctan2(matrix[1, 0], matrix[0, 0])):.1f} deg, "
          f"shift ({matrix[0, 2]:.1f}, {matrix[1, 2]:.1f}) px")
    print("dlib chip template (YuNet points, 150 px):", [[round(float(v), 1) for v in p] for p in template])
    splits = split(read_dataset(UTKFACE))
    rng = np.random.default_rng(0)
    train = splits["train"].subset(rng.choice(len(splits["train"]), args.train, replace=False))
    test = splits["test"].subset(rng.choice(len(splits["test"]), args.test, replace=False))
    backbone = load_dlib_weights(dlib_resnet((150, 150, 3)), DLIB_DIR / "dlib_face_recognition_resnet_model_v1.dat")
    print(f"{'crop':8s} {'age MAE':>8s} {'gender':>7s} {'race':>6s}  (ridge read-out of frozen features; "
          f"{args.train} train / {args.test} test faces)")
    for geometry in ("resize", "chip", "aligned"):
        started = time.time()
        feats, missed = {}, 0
        for name, part in (("train", train), ("test", test)):
            images, m = crops(part.paths, geometry, matrix, template, landmarks)
            missed += m
            feats[name] = backbone.predict(preprocess_input(images, "dlib"), batch_size=64, verbose=0)
        age = apply(ridge(feats["train"], train.ages.astype(np.float64)), feats["test"])
        gender = apply(ridge(feats["train"], np.eye(2)[train.genders]), feats["test"]).argmax(1)
        race = apply(ridge(feats["train"], np.eye(5)[train.races]), feats["test"]).argmax(1)
        print(f"{geometry:8s} {np.abs(age - test.ages).mean():8.2f} {(gender == test.genders).mean():7.3f} "
              f"{(race == test.races).mean():6.3f}  ({time.time() - started:.0f} s"
              + (f", {missed} without landmarks used the mean warp)" if geometry == "aligned" else ")"))


if __name__ == "__main__":
    main()
