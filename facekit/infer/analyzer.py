"""Photo or video frame -> every face with its age, gender and race: the path the demos and ``facekit.analyze`` take.

detect (facekit.vision.detectors) -> crop like the training data (facekit.vision.crop) -> one batched predict (the
model's runtime, facekit.infer.predictors) -> one JSON entry per face (facekit.infer.results). With an exported model
(.tflite, .onnx) and an OpenCV detector (yunet, the default; ssd, haar) no TensorFlow is imported.
"""
import threading
import time
from pathlib import Path

import numpy as np

from facekit.core import paths
from facekit.core.errors import InputError, ModelError
from facekit.infer.predictors import load_predictor
from facekit.infer.results import face_entry, photo_entry
from facekit.vision.crop import crop_faces
from facekit.vision.detectors import DEFAULT_DETECTOR, create_detector, spec_of
from facekit.vision.images import as_rgb, read_image_and_size


class FaceAnalyzer:
    """A model and a detector, loaded once; ``analyze(image)`` for each photo or frame.

    ``model``: a predictor (``facekit.infer.predictors.load_predictor``), a loaded Keras model, a ``.keras``,
    ``.tflite`` or ``.onnx`` path, or None for the shipped default model (``paths.default_model()``).
    ``detector``: a detector object (a registered detector's class or a subclass of one; any other declares its name
    and crop geometry as a ``spec`` attribute, a ``facekit.vision.detectors.DetectorSpec``), a detector name
    (``yunet``, ``mtcnn``, ``haar``; ``ssd`` needs ``detector_model``), or None for yunet. ``crop_scale`` > 1 cuts
    faces with more margin than training did.
    ``tta``: test-time augmentation, probabilities averaged (facekit.infer.tta: ``flip``, each face and its mirror
    image; ``crops``, the face and its four corner crops; ``flip+crops``, those and their mirrors).
    ``model`` may be a list of several: an ensemble, combined by ``ensemble`` (mean, weighted, vote) with
    ``ensemble_weights`` (facekit.infer.ensemble: one per model, or ``{head: one per model}`` as
    ``face_train.py --evaluate ... --ensemble-weights fit`` prints them).

    Threads: one FaceAnalyzer may be shared; its ``analyze`` calls run one at a time, under a lock (LiteRT's
    interpreter and OpenCV's detectors are not safe to call at once: the process crashed). For photos analysed in
    parallel, give each thread its own FaceAnalyzer, or use processes.
    """

    def __init__(self, model=None, detector=None, detector_model=None, crop_scale=1.0, tta="none", ensemble="mean",
                 ensemble_weights=None):
        if crop_scale <= 0:
            raise InputError(f"the crop scale (--crop-scale) must be positive, not {crop_scale}")
        if detector is None or isinstance(detector, str):  # the detector first: its missing file fails faster
            detector = create_detector(detector or DEFAULT_DETECTOR, detector_model)
        self.detector = detector
        self.model_path = None  # the file the model was loaded from, when it was given as a path or found
        if model is None:
            model = paths.default_model()
            if not model.is_file():  # an install without the checkout's face_weights/
                raise ModelError(f"the default model {model} is not installed here: pass --model PATH "
                                   "(a .tflite, .onnx or .keras model; model= from Python)")
        if isinstance(model, (list, tuple)) and not model:
            raise InputError("model= is an empty list: give a model, several for an ensemble, or None for the "
                             "default")
        if isinstance(model, (list, tuple)) and len(model) == 1:
            model = model[0]
        if isinstance(model, (str, Path)):
            self.model_path = Path(model)
        if not hasattr(model, "predict") or not hasattr(model, "input_size"):  # path(s), None or a Keras model
            model = load_predictor(self.model_path or model, tta=tta, ensemble=ensemble, weights=ensemble_weights)
        elif tta != "none":
            raise InputError("a predictor given to FaceAnalyzer keeps its own test-time augmentation: pass tta= to "
                               "load_predictor instead")
        self.model = model
        self.input_size = self.model.input_size
        self.crop_spec = spec_of(detector).crop.scaled(crop_scale)
        self._lock = threading.Lock()

    def analyze(self, image, timings=None):
        """``image``: a path, the bytes of an image file, or an RGB uint8 array -> one dict per face, largest first:
        box, score, landmarks, age and age_std, gender, race, their probabilities (the faces.json entries).
        ``timings``: a dict that receives the seconds spent detecting and cropping + predicting ("detect",
        "predict")."""
        size = None
        if isinstance(image, (memoryview, bytearray)):
            image = bytes(image)
        if not isinstance(image, (np.ndarray, bytes, str, Path)):
            raise InputError(f"an image is a path, the bytes of an image file or an RGB uint8 array, not "
                             f"{type(image).__name__}")
        if isinstance(image, bytes) and not image:
            raise InputError("the image is empty (0 bytes)")
        if not isinstance(image, np.ndarray):  # a file: boxes in its pixels, also when it is read shrunk
            image, size = read_image_and_size(image)
        image = as_rgb(image)
        if 0 in image.shape[:2]:
            raise InputError(f"the image array is empty: shape {image.shape}")
        with self._lock:
            return self._analyze(image, size, timings)

    def _analyze(self, image, size, timings):
        start = time.perf_counter()
        faces = self.detector.detect(image)
        detected = time.perf_counter()
        entries = []
        if faces:
            predictions = self.model.predict(crop_faces(image, faces, self.input_size, self.crop_spec))
            entries = [face_entry(face, prediction) for face, prediction in zip(faces, predictions)]
        if timings is not None:
            timings.update(detect=detected - start, predict=time.perf_counter() - detected)
        return entries if size is None else photo_entry(entries, image, size)["faces"]


def analyze(image, model=None, detector=None, tta="none", ensemble="mean", ensemble_weights=None):
    """Every face in one photo: ``FaceAnalyzer(model, detector, ...).analyze(image)`` (``model``: one, or a list for
    an ensemble). Loads the models and detector on each call; keep a FaceAnalyzer for more than one photo."""
    return FaceAnalyzer(model, detector, tta=tta, ensemble=ensemble, ensemble_weights=ensemble_weights).analyze(image)
