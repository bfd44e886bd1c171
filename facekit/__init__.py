"""facekit: age, gender and race of every face in a photo.

    import facekit
    faces = facekit.analyze("photo.jpg")  # a path, the bytes of an image file, or an RGB uint8 array
    faces[0].age, faces[0].gender, faces[0].race, faces[0].box
    faces[0].to_dict()  # the face's JSON entry, as face_demo.py --json writes it

One ``facekit.infer.results.FaceResult`` per face, largest first: box, score, landmarks and the prediction (age and
its standard deviation, gender, race, and the probabilities of each gender, race and age group); ``to_dict()`` gives
the JSON entry, rounded. ``analyze`` loads the model (default: the shipped default model's .tflite,
``paths.default_model()``: a checkout's face_weights/default/, else the installed package's) and the detector
(default: yunet) on each call and takes every option of the demos (``detector_model``, ``min_score``,
``min_face_size``, ``crop_scale``, ``tta``, ``ensemble``, ``ensemble_weights``);
``facekit.FaceAnalyzer(model, detector, ...)`` loads them once for many photos or video frames.
``facekit.load_predictor(path)`` opens a ``.keras``, ``.tflite`` or ``.onnx`` model behind one ``predict(crops)``.

Importing facekit loads no TensorFlow and changes no setting: ``analyze``, ``FaceAnalyzer`` and ``load_predictor``
are imported when first used (PEP 562).
"""
import importlib
from typing import Any

__version__ = "0.1.0"  # the package's version (pyproject.toml reads it from here)

_LAZY = {"analyze": "facekit.infer.analyzer", "FaceAnalyzer": "facekit.infer.analyzer",
         "load_predictor": "facekit.infer.predictors"}
__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'facekit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
