"""facekit: age, gender and race of every face in a photo.

    import facekit
    faces = facekit.analyze("photo.jpg")  # a path, the bytes of an image file, or an RGB uint8 array
    faces[0]["age"], faces[0]["gender"], faces[0]["race"], faces[0]["box"]

One dict per face, largest first: box, score, landmarks, age and age_std, gender, race, and the probabilities of
each gender, race and age group. ``analyze`` loads the model (default: the shipped default model's .tflite,
``paths.default_model()``: a checkout's face_weights/default/, else the installed package's) and the detector
(default: yunet) on each call; ``facekit.FaceAnalyzer(model, detector)`` loads them once for many photos or video
frames.
``facekit.load_predictor(path)`` opens a ``.keras``, ``.tflite`` or ``.onnx`` model behind one ``predict(crops)``.

Importing facekit loads no TensorFlow: ``analyze``, ``FaceAnalyzer`` and ``load_predictor`` are imported when first
used (PEP 562).
It does set ``TF_CPP_MIN_LOG_LEVEL=2`` unless it is set already: TensorFlow's C++ start-up chatter (CPU features)
would drown the scripts' own output. The two oneDNN lines still appear: TensorFlow 2.21 logs them through absl.
"""
import importlib
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"  # the package's version (pyproject.toml reads it from here)

_LAZY = {"analyze": "facekit.infer.analyzer", "FaceAnalyzer": "facekit.infer.analyzer",
         "load_predictor": "facekit.infer.predictors"}
__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'facekit' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_LAZY])
