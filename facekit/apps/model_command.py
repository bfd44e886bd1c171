"""face.py's command: build a model and print what it contains, or export a trained one (LiteRT or ONNX, optionally
int8), checked against Keras on real faces."""
import argparse

from facekit.apps.cli import add_verbosity_arguments, exit_with_error, non_negative_float, setup_logging
from facekit.backbones.model import build_model, trainable_summary
from facekit.backbones.registry import BACKBONES
from facekit.core.errors import FaceKitError
from facekit.export.exporter import TOLERANCE, export_model
from facekit.export.quantize import LIMITS, QUANTIZATIONS, describe_error
from facekit.infer.model_metadata import read_metadata


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build a model and print what it contains, or export a trained one.")
    parser.add_argument("--backbone", default="vggface2_resnet50", choices=sorted(BACKBONES))
    parser.add_argument("--weights", default=None,
                        help="a published source (vggface2, dlib), none, or a weights file in the backbone's format")
    parser.add_argument("--input-size", type=int, default=None, help="input side in pixels")
    parser.add_argument("--freeze", default="none", help="layer count, none, all, or a stage such as conv4")
    parser.add_argument("--export", default=None, metavar="MODEL.keras",
                        help="export this trained model to run without TensorFlow (LiteRT or ONNX Runtime)")
    parser.add_argument("--format", default="litert", choices=["litert", "onnx"], help="export format (.tflite, .onnx)")
    parser.add_argument("--output", default=None, metavar="PATH", help="exported file (default: beside the model)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing exported file")
    parser.add_argument("--check-faces", default=None, metavar="FOLDER",
                        help="real face crops to compare the export with Keras on (default: the shared UTKFace)")
    parser.add_argument("--tolerance", type=non_negative_float, default=TOLERANCE,
                        help=f"largest accepted difference of any probability from Keras (default: {TOLERANCE:g})")
    parser.add_argument("--quantize", default=None, choices=QUANTIZATIONS,
                        help="with --format onnx: 8-bit weights and activations, its error against Keras measured on "
                             "real faces and reported (facekit/export/quantize.py)")
    parser.add_argument("--accept-error", action="store_true",
                        help=f"with --quantize: write it even when its measured error is over the limits (age "
                             f"{LIMITS['age_mean_abs_difference']:g} years on average, gender agreement "
                             f"{LIMITS['gender_agreement']:.0%}%)")  # %% for argparse
    add_verbosity_arguments(parser)
    args = parser.parse_args(argv)
    setup_logging(args)
    if args.export is not None:
        try:
            output, worst = export_model(args.export, args.format, args.output, args.overwrite, args.check_faces,
                                         args.tolerance, args.quantize, args.accept_error)
        except FaceKitError as error:
            exit_with_error(error)
        graph = "its float graph " if args.quantize else ""
        print(f"{graph}checked against Keras on real faces: largest difference {worst:.2e} "
              f"(tolerance {args.tolerance:g})")
        quantization = read_metadata(output)[0].get("quantization")
        if quantization:
            over = ": over the limits, written because of --accept-error" if quantization["over_limits"] else ""
            print(describe_error(quantization, quantization["faces"]) + over)
        print(f"wrote {output} and {output.name}.json")
        return
    shape = None if args.input_size is None else (args.input_size, args.input_size, 3)
    try:
        model = build_model(args.backbone, weights=args.weights, input_shape=shape, freeze=args.freeze)
    except FaceKitError as error:
        exit_with_error(error)
    model.summary()
    print(trainable_summary(model))

