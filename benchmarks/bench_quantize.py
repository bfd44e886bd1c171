"""int8 quantisation (face.py --export --format onnx --quantize int8) against the float .onnx: milliseconds per face
at batch 1 and 10, file size, and the int8 file's error against Keras on held-out real faces; for the shipped
default model also the accuracy of both on the fixed UTKFace test split.

    .venv/bin/python -m benchmarks.bench_quantize [--rounds 5]

Models: (a) the shipped default, face_weights/default/dlib_resnet_150px.keras; (b) an untrained vggface2_resnet50 at
200 px (its error says nothing of a trained one's; its speed does). Each is exported by export_model as float and
int8 (QOperator, the format facekit.export.quantize uses), and quantised once more as QDQ, the other format, from the
same float file and calibration faces. Timings: ONNX Runtime on float32 batches already at the input size, all cores;
the files take turns in every round, and each round's float time is divided by that round's int8 time (the
speed-up; its median is printed), so that they share the machine's load.
"""
import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from facekit.backbones.model import build_model
from facekit.core import paths
from facekit.data.datasets import read_dataset
from facekit.data.samples import split
from facekit.export.exporter import default_check_faces, export_model, face_files, read_faces
from facekit.export.quantize import CALIBRATION_FACES, MEASURED_FACES, quantization_error, quantize_onnx
from facekit.infer.model_metadata import metadata_path
from facekit.infer.predictors import load_predictor
from facekit.infer.scoring import compute_metrics, split_probabilities

BATCHES = (1, 10)


def exports(keras_file, folder):
    """{name: .onnx path}: float, int8 (export_model, QOperator) and int8 QDQ (the same calibration)."""
    files = {"float": export_model(keras_file, "onnx", output=folder / "float.onnx")[0],
             "int8": export_model(keras_file, "onnx", output=folder / "int8.onnx", quantize="int8",
                                  accept_error=True)[0]}
    size = load_predictor(files["float"]).input_size
    calibration = read_faces(face_files(default_check_faces())[MEASURED_FACES:MEASURED_FACES + CALIBRATION_FACES], size)
    files["int8 QDQ"] = folder / "int8_qdq.onnx"
    quantize_onnx(files["float"], files["int8 QDQ"], calibration, "QDQ")
    shutil.copy(metadata_path(files["float"]), metadata_path(files["int8 QDQ"]))
    return files


def milliseconds_per_face(predictors, faces, rounds):
    """{(name, batch size): [ms per face, one per round]}, the predictors taking turns in every round."""
    times = {}
    for _ in range(rounds):
        for name, predictor in predictors.items():
            for batch_size in BATCHES:
                batch = faces[:batch_size]
                predictor.run_batch(batch)  # warm: the first run of a batch size allocates
                repeats = max(2, 20 // batch_size)
                start = time.perf_counter()
                for _ in range(repeats):
                    predictor.run_batch(batch)
                times.setdefault((name, batch_size), []).append(
                    (time.perf_counter() - start) * 1000 / repeats / batch_size)
    return times


def accuracy_on_test_split(predictor, samples):
    """The evaluation's metrics (facekit.infer.scoring) of an exported model on the test split, its images read as
    the evaluation reads them."""
    probs = split_probabilities(predictor, samples)
    metrics = compute_metrics(samples, probs, predictor.age_bins)
    return {key: metrics[key] for key in ("age_mae", "gender_acc", "race_acc")}


def report(title, keras_file, rounds, test_samples=None):
    with tempfile.TemporaryDirectory() as folder:
        files = exports(keras_file, Path(folder))
        predictors = {name: load_predictor(path) for name, path in files.items()}
        keras = load_predictor(keras_file)
        faces = read_faces(face_files(default_check_faces())[:MEASURED_FACES], keras.input_size)
        expected = keras.probabilities(faces)
        times = milliseconds_per_face(predictors, faces.astype(np.float32), rounds)
        print(f"\n{title}: {rounds} rounds, medians; error against Keras on the {MEASURED_FACES} held-out faces")
        for name, path in files.items():
            speed = "   ".join(
                f"batch {b}: {statistics.median(times[(name, b)]):6.2f} ms/face "
                f"(x{statistics.median(f / t for f, t in zip(times[('float', b)], times[(name, b)])):.2f})"
                for b in BATCHES)
            print(f"  {name:9} {path.stat().st_size / 1e6:6.1f} MB   {speed}")
            if name != "float":
                error = quantization_error(expected, predictors[name].probabilities(faces), keras.age_bins)
                print("            " + ", ".join(f"{key} {value:g}" for key, value in error.items()))
        if test_samples is not None:
            print(f"  on the UTKFace test split ({len(test_samples)} faces):")
            for name in ("float", "int8"):
                print(f"  {name:9} {accuracy_on_test_split(predictors[name], test_samples)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    test_samples = split(read_dataset(default_check_faces()))["test"]
    report("default model, dlib_resnet 150 px", paths.default_model(".keras"), args.rounds, test_samples)
    with tempfile.TemporaryDirectory() as folder:
        untrained = Path(folder) / "vggface2_resnet50.keras"
        build_model("vggface2_resnet50", input_shape=(200, 200, 3)).save(untrained)
        report("untrained vggface2_resnet50, 200 px", untrained, args.rounds)


if __name__ == "__main__":
    main()
