"""Photo or video frame -> every face with its age, gender and race: the one path both demos take.

detect (facekit.detection) -> crop like the training data (facekit.crop) -> one batched predict (facekit.model).
"""
from dataclasses import dataclass
from pathlib import Path

from facekit import paths
from facekit.crop import crop_faces
from facekit.detection import Face
from facekit.detectors import DETECTORS, create_detector, spec_of
from facekit.errors import FaceKitError
from facekit.model import load_model, predict


def newest_model(folder=None):
    """The most recently written ``*.keras`` file below ``folder`` (default: face_weights/, where training
    writes ``RUN/best.keras``)."""
    folder = paths.face_weights_dir() if folder is None else folder
    models = [path for path in Path(folder).rglob("*.keras") if path.is_file()]
    if not models:
        raise FaceKitError(f"no trained model (*.keras) in {folder}: train one with face_train.py or pass --model PATH")
    return max(models, key=lambda path: path.stat().st_mtime)


@dataclass
class FaceResult:
    face: Face
    prediction: dict

    def to_json(self):
        x, y, w, h = self.face.box
        landmarks = None if self.face.landmarks is None else self.face.landmarks.round(1).tolist()
        return {"box": {"x": x, "y": y, "width": w, "height": h}, "score": round(self.face.score, 4),
                "landmarks": landmarks, **self.prediction}


class FaceAnalyzer:
    """A model and a detector; ``analyze(image_rgb)`` gives a FaceResult per face, largest face first."""

    def __init__(self, model, detector, crop_scale=1.0):
        self.model = model
        self.detector = detector
        self.input_size = model.input_shape[1]
        self.crop_spec = spec_of(detector).crop.scaled(crop_scale)

    def analyze(self, image_rgb):
        faces = self.detector.detect(image_rgb)
        if not faces:
            return []
        predictions = predict(self.model, crop_faces(image_rgb, faces, self.input_size, self.crop_spec))
        return [FaceResult(face, prediction) for face, prediction in zip(faces, predictions)]


def add_analyzer_arguments(parser):
    """The model and detector options that both demos share."""
    parser.add_argument("--model", default=None,
                        help="trained .keras model (default: the newest *.keras below face_weights/)")
    parser.add_argument("--detector", default="mtcnn", choices=sorted(DETECTORS),
                        help="face detector (default: mtcnn; yunet and ssd need --detector-model)")
    parser.add_argument("--detector-model", default=None, metavar="PATH",
                        help="model file of the yunet (.onnx) or ssd (.pb, with its .pbtxt beside it) detector")
    parser.add_argument("--min-score", type=float, default=None,
                        help="detection confidence threshold (default: the detector's own)")
    parser.add_argument("--crop-scale", type=float, default=1.0,
                        help="face crop size relative to the measured training-like crop (>1: more margin)")


def analyzer_from_args(args, log=print):
    """Builds the detector first (a missing detector file fails before the slower model load), then the model."""
    if args.crop_scale <= 0:
        raise FaceKitError(f"--crop-scale must be positive, not {args.crop_scale}")
    detector = create_detector(args.detector, args.detector_model, args.min_score)
    model_path = args.model
    if model_path is None:
        model_path = newest_model()
        log(f"using the newest model: {model_path}")
    return FaceAnalyzer(load_model(model_path), detector, args.crop_scale)
