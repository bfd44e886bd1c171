"""A trained model on faces from outside UTKFace: the 19 real Adience faces in ../shared, three ways of cropping.

    .venv/bin/python -m benchmarks.eval_adience_sample --model face_weights/default/dlib_resnet_150px.keras

Adience labels an age range and a gender per face (both people here are labelled (25, 32)). Tiny, but it is
the one sample here from another source, and it shows what the crop does to a UTKFace-trained model.
"""
import argparse
import csv
from pathlib import Path

import numpy as np

from facekit.backbones.model import load_model
from facekit.core.labels import age_group
from facekit.core.paths import shared_dir
from facekit.infer.predictors import predict
from facekit.vision.crop import CropSpec, crop_faces
from facekit.vision.detectors import create_detector, detector_spec
from facekit.vision.detectors.base import Face
from facekit.vision.images import read_image

SHARED = shared_dir()  # ../shared, or FACEKIT_SHARED

ADIENCE = SHARED / "data" / "adience"


def adience_labels(folder):
    """{(user_id, original_image, face_id): (low, high, gender)} from the fold files."""
    labels = {}
    for fold in sorted(folder.glob("fold_*_data.txt")):
        with open(fold, newline="") as f:
            for row in csv.DictReader(f, delimiter="\t"):
                age = row["age"].strip()
                if age.startswith("(") and row["gender"] in ("m", "f"):
                    low, high = (int(v) for v in age.strip("()").split(","))
                    labels[(row["user_id"], row["original_image"], row["face_id"])] = (low, high, row["gender"])
    return labels


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--adience", default=str(ADIENCE))
    args = parser.parse_args()
    folder = Path(args.adience)
    labels = adience_labels(folder)
    model = load_model(args.model)
    size = model.input_shape[1]
    detector = create_detector("mtcnn")
    crops = {"aligned on 5 landmarks (default)": [], "measured box crop": [], "plain detector box": []}
    truth = []
    for path in sorted((folder / "sample_aligned").rglob("*.jpg")):
        _, face_id, original = path.name.split(".", 2)
        key = (path.parent.name, original, face_id)
        if key not in labels:
            continue
        image = read_image(path)
        faces = detector.detect(image)
        if not faces:
            print(f"no face found in {path.name}")
            continue
        face = faces[0]  # largest first: the labelled face fills these aligned crops
        boxed = Face(face.box, face.score, None)
        crops["aligned on 5 landmarks (default)"].append(
            crop_faces(image, [face], size, detector_spec("mtcnn").crop)[0])
        crops["measured box crop"].append(crop_faces(image, [boxed], size, detector_spec("mtcnn").crop)[0])
        crops["plain detector box"].append(crop_faces(image, [boxed], size, CropSpec(1.0, (0.0, 0.0)))[0])
        truth.append(labels[key])
    low, high, gender = (np.array(v) for v in zip(*truth))
    print(f"{len(truth)} labelled faces found; model {args.model} ({size}x{size})")
    print(f"{'crop':<36} {'gender acc':>10} {'age in range':>12} {'group exact':>11} {'MAE to mid':>10}")
    for name, faces in crops.items():
        results = predict(model, np.stack(faces))
        ages = np.array([r.age for r in results])
        genders = np.array([r.gender[0] for r in results])
        mid = (low + high) / 2
        print(f"{name:<36} {np.mean(genders == gender):>10.2f} {np.mean((ages >= low) & (ages <= high)):>12.2f} "
              f"{np.mean(age_group(ages) == age_group(mid)):>11.2f} {np.mean(np.abs(ages - mid)):>10.1f}")


if __name__ == "__main__":
    main()
