"""One loader for every model file: ``load_predictor(path)`` -> a predictor whose ``predict(crops)`` gives the
results of ``facekit.infer.results`` whatever runs the model.

    .keras   Keras (imports TensorFlow; the training format)
    .tflite  LiteRT (ai-edge-litert's Interpreter, all CPU cores): no TensorFlow
    .onnx    ONNX Runtime: no TensorFlow

Several models (a list): ``EnsemblePredictor``, their probabilities combined (facekit.infer.ensemble).
Image files (``file_probabilities``): read by ``facekit.vision.images.read_image`` and resized as crops are, the
path of ``face_train.py --evaluate`` and ``--predict``.
Exported files (``face.py --export``) carry their preprocessing inside and their age bins and labels in the JSON
beside them (``facekit.infer.model_metadata``). Every predictor has ``input_size`` (crop side in pixels), ``age_bins``,
``path`` and ``predict(crops, batch_size=64)``.
"""
from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from facekit.core.errors import InputError, ModelError
from facekit.core.extras import require
from facekit.core.labels import AgeBins
from facekit.infer.ensemble import combine, ensemble_weights, shared_age_bins
from facekit.infer.face_crops import face_batch
from facekit.infer.model_metadata import checked, metadata_path, read_metadata
from facekit.infer.results import Prediction, predictions_from
from facekit.infer.tta import check_tta, probabilities_with
from facekit.vision.images import read_image

SUFFIXES = (".keras", ".tflite", ".onnx")

Probabilities = dict[str, np.ndarray]  # {"age", "gender", "race"} -> (N, classes), as the Keras model's outputs
Crops = Any  # face crops: an array (N, H, W, 3) or (H, W, 3), or a list of (H, W, 3), RGB 0-255 (face_crops)
Progress = Callable[..., Iterable[np.ndarray]]  # progress(batches, total=count), e.g. tqdm
ModelSource = Any  # a model file (str or Path), a Keras model already loaded, or a list of them (an ensemble)


def _as_batch(faces: Crops, size: int) -> np.ndarray:
    """Crops (N,H,W,3) or one (H,W,3), RGB 0-255 (checked: facekit.infer.face_crops) -> float32 (N, size, size, 3),
    resized by area if needed."""
    faces = face_batch(faces)
    if faces.shape[1:3] != (size, size):
        faces = np.stack([_resized(face, size) for face in faces])
    return faces


def _resized(face: np.ndarray, size: int) -> np.ndarray:
    """One float32 crop (H, W, 3) -> (size, size, 3), by area: how every predictor resizes what it is given. Its
    weighted sums can land a rounding error outside 0..255 (255.00002): clipped back."""
    if face.shape[:2] == (size, size):
        return face
    return np.clip(cv2.resize(face, (size, size), interpolation=cv2.INTER_AREA), 0, 255, dtype=np.float32)


def read_faces(paths: Sequence[str | Path], size: int) -> np.ndarray:
    """Image files of face crops -> float32 (N, size, size, 3): each read by ``read_image`` (as the demos and
    training read photos) and resized as a predictor resizes crops."""
    return np.stack([_resized(read_image(path).astype(np.float32), size) for path in paths])


def file_batches(paths: Sequence[str | Path], size: int, batch_size: int = 64) -> Iterator[np.ndarray]:
    """``read_faces`` of ``batch_size`` files at a time, in order; the next batch is read (in a thread) while the
    caller predicts the current one."""
    chunks = [paths[start:start + batch_size] for start in range(0, len(paths), batch_size)]
    if not chunks:
        return
    with ThreadPoolExecutor(1) as reader:
        pending = reader.submit(read_faces, chunks[0], size)
        for following in [*chunks[1:], None]:
            batch = pending.result()
            if following is not None:
                pending = reader.submit(read_faces, following, size)
            yield batch


def predict_batches(predict_batch: Callable[[Any], Any], batches: Iterable[Any]) -> Any:
    """``predict_batch`` on each batch in turn; the outputs (arrays, or dicts of arrays) concatenated.

    The one batched prediction: every predictor (crops in memory or image files, as evaluation and submissions
    read them) and the frozen-feature path (batches streamed from disk by ``pipeline.image_batches``) go through it.
    """
    outputs = [predict_batch(batch) for batch in batches]
    if not outputs:
        raise InputError("no images to predict")
    if isinstance(outputs[0], dict):
        return {k: np.concatenate([np.asarray(o[k]) for o in outputs]) for k in outputs[0]}
    return np.concatenate([np.asarray(o) for o in outputs])


class Predictor:
    """What every predictor shares: crops resized, batched, test-time augmented (``tta``, facekit.infer.tta), results.
    Subclasses give ``input_size``, ``age_bins`` and ``batch_probabilities``: a float32 batch -> {head: array}."""

    tta = "none"
    input_size: int
    age_bins: AgeBins
    path: Path | None

    def batch_probabilities(self, batch: np.ndarray) -> Probabilities:
        raise NotImplementedError

    def probabilities(self, faces: Crops, batch_size: int = 64) -> Probabilities:
        """Crops -> ``{"age", "gender", "race"}`` probability arrays, as the Keras model's outputs."""
        batch = _as_batch(faces, self.input_size)
        return predict_batches(lambda part: probabilities_with(self.batch_probabilities, part, self.tta),
                               (batch[start:start + batch_size] for start in range(0, len(batch), batch_size)))

    def predict(self, faces: Crops, batch_size: int = 64) -> list[Prediction]:
        if isinstance(faces, (list, tuple)) and len(faces) == 0 or isinstance(faces, np.ndarray) and faces.ndim == 4 \
                and faces.shape[0] == 0:
            return []  # no face: nothing to predict (an empty batch, as a photo without faces gives)
        return predictions_from(self.probabilities(faces, batch_size), self.age_bins)

    def file_probabilities(self, paths: Iterable[str | Path], batch_size: int = 64,
                           progress: Progress | None = None) -> Probabilities:
        """Image files of face crops (UTKFace's, a dataset's cached crops) -> probabilities as ``probabilities``
        gives them, the files read ``batch_size`` at a time (``file_batches``). ``progress``: wraps the batches
        (``progress(batches, total=count)``, e.g. tqdm) to show how far it got."""
        files = [str(path) for path in paths]
        if not files:
            raise InputError("no image files to predict")
        batches: Iterable[np.ndarray] = file_batches(files, self.input_size, batch_size)
        if progress is not None:
            batches = progress(batches, total=-(-len(files) // batch_size))
        return predict_batches(lambda batch: self.probabilities(batch, batch_size), batches)


class ExportedPredictor(Predictor):
    """What the LiteRT and ONNX Runtime predictors share: metadata. Subclasses give ``run_batch``: a float32 batch ->
    the runtime's outputs in order. ``metadata``: instead of the file beside the model (the export's check runs the
    model before writing it)."""

    path: Path

    def __init__(self, path: str | Path, metadata: dict[str, Any] | None = None, tta: str = "none") -> None:
        self.path = Path(path)
        self.metadata, self.age_bins = read_metadata(path) if metadata is None else checked(metadata, path)
        self.input_size = self.metadata["input_size"]
        self.tta = check_tta(tta)

    def run_batch(self, batch: np.ndarray) -> list[np.ndarray]:
        raise NotImplementedError

    def batch_probabilities(self, batch: np.ndarray) -> Probabilities:
        return dict(zip(self.metadata["outputs"], self.run_batch(batch)))

    def check_tensors(self, input_shape: Sequence[Any], output_shapes: Sequence[Sequence[Any]]) -> None:
        """The model's own tensors against its metadata, when it loads: a ``.json`` beside it that describes
        another model (another input size, other age bins or classes, the outputs in another order) is one line
        naming both files, not an error of the runtime at the first face. Unknown dimensions (None, names) pass."""
        widths = {"age": self.age_bins.count, "gender": len(self.metadata["labels"]["gender"]),
                  "race": len(self.metadata["labels"]["race"])}
        expected = [widths[head] for head in self.metadata["outputs"]]
        size = self.input_size
        found_input = [d if isinstance(d, int) and d > 0 else None for d in list(input_shape)[1:3]]
        found_outputs = [shape[-1] if len(shape) and isinstance(shape[-1], int) else None for shape in output_shapes]
        problems = []
        if any(d is not None and d != size for d in found_input):
            problems.append(f"it takes {found_input[1]}x{found_input[0]} crops, the metadata says {size}x{size}")
        if len(found_outputs) != len(expected) or any(f is not None and f != e
                                                      for f, e in zip(found_outputs, expected)):
            problems.append(f"its outputs have {', '.join(map(str, found_outputs))} values, the metadata's "
                            f"{', '.join(self.metadata['outputs'])} would have {', '.join(map(str, expected))}")
        if problems:
            raise ModelError(f"{metadata_path(self.path)} does not describe {self.path}: {'; '.join(problems)}; "
                             "export the model again (face.py --export), which writes both")


@contextlib.contextmanager
def _stderr_silenced() -> Iterator[None]:
    """LiteRT's C++ code writes "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." to the process's stderr
    when it first allocates tensors, under every demo's output; failures still raise Python exceptions. Redirects
    the process's file descriptor 2: for the load, in the loading thread, never around a prediction."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class LiteRtPredictor(ExportedPredictor):
    def __init__(self, path: str | Path, threads: int | None = None, metadata: dict[str, Any] | None = None,
                 tta: str = "none") -> None:
        super().__init__(path, metadata, tta)
        from ai_edge_litert.interpreter import Interpreter  # imported here: only .tflite models need it
        try:
            self._interpreter = Interpreter(model_path=str(self.path), num_threads=threads or os.cpu_count())
        except (ValueError, RuntimeError) as error:
            raise ModelError(f"cannot load LiteRT model {self.path}: {error}") from error
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._outputs = [detail["index"] for detail in self._interpreter.get_output_details()]
        self.check_tensors(self._interpreter.get_input_details()[0]["shape"].tolist(),
                           [detail["shape"].tolist() for detail in self._interpreter.get_output_details()])
        self._batch: int | None = None
        with _stderr_silenced():  # the first allocation, which prints, here at load: not later in a worker thread
            self._resize(1)

    def _resize(self, batch_size: int) -> None:
        """The batch dimension resized, then the tensors allocated: once per batch size."""
        size = self.input_size
        self._interpreter.resize_tensor_input(self._input, [batch_size, size, size, 3], strict=False)
        self._interpreter.allocate_tensors()
        self._batch = batch_size

    def run_batch(self, batch: np.ndarray) -> list[np.ndarray]:
        if self._batch != len(batch):
            self._resize(len(batch))
        self._interpreter.set_tensor(self._input, batch)
        self._interpreter.invoke()
        return [self._interpreter.get_tensor(index) for index in self._outputs]


class OnnxPredictor(ExportedPredictor):
    def __init__(self, path: str | Path, threads: int | None = None, metadata: dict[str, Any] | None = None,
                 tta: str = "none") -> None:
        super().__init__(path, metadata, tta)
        onnxruntime = require("onnxruntime", f".onnx models ({self.path.name})")  # here: only .onnx models need it
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count()
        # Idle threads sleep instead of spinning: spinning took the cores that decoding and detection need (the
        # video demo ran 8 frames/s with it, 32 without, on 2 busy cores; benchmarks/bench_runtimes.py)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self._session = onnxruntime.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # ONNX Runtime raises its own exception types for a bad file
            raise ModelError(f"cannot load ONNX model {self.path}: {error.__class__.__name__}: {error}") from error
        self._input = self._session.get_inputs()[0].name
        self.check_tensors(self._session.get_inputs()[0].shape,
                           [output.shape for output in self._session.get_outputs()])

    def run_batch(self, batch: np.ndarray) -> list[np.ndarray]:
        return self._session.run(None, {self._input: batch})


class KerasPredictor(Predictor):
    """A ``.keras`` model (or one already loaded) behind the same interface; imports TensorFlow."""

    def __init__(self, model: Any, tta: str = "none") -> None:
        require("keras", ".keras models")  # TensorFlow only for .keras models: imported here
        from facekit.backbones import model as keras_model
        self.path = Path(model) if isinstance(model, (str, Path)) else None
        self.model = keras_model.load_model(model) if self.path else model
        self.input_size = self.model.input_shape[1]
        self.age_bins = keras_model.age_bins_of(self.model)
        self.tta = check_tta(tta)

    def batch_probabilities(self, batch: np.ndarray) -> Probabilities:
        return self.model.predict_on_batch(batch)


class EnsemblePredictor(Predictor):
    """Several predictors behind one: each reads the crops at its own input size (and with its own ``tta``), and
    their probabilities are combined by ``method`` (facekit.infer.ensemble: mean, weighted, vote) with ``weights``."""

    path = None

    def __init__(self, predictors: Sequence[Predictor], method: str = "mean", weights: Any = None) -> None:
        ensemble_weights(len(predictors), method, weights)
        self.age_bins = shared_age_bins([p.age_bins for p in predictors])
        self.predictors, self.method, self.weights = list(predictors), method, weights
        self.input_size = max(p.input_size for p in predictors)  # crops cut once, as large as the largest needs
        self.name = f"{method} of " + ", ".join(Path(p.path).name if p.path else "model" for p in predictors)

    def probabilities(self, faces: Crops, batch_size: int = 64) -> Probabilities:
        return combine([p.probabilities(faces, batch_size) for p in self.predictors], self.method, self.weights)

    def file_probabilities(self, paths: Iterable[str | Path], batch_size: int = 64,
                           progress: Progress | None = None) -> Probabilities:
        """Each model reads the files at its own input size, as it would alone."""
        files = list(paths)
        return combine([p.file_probabilities(files, batch_size, progress) for p in self.predictors], self.method,
                       self.weights)


RUNTIMES = {".keras": KerasPredictor, ".tflite": LiteRtPredictor, ".onnx": OnnxPredictor}


def predict(model: ModelSource, faces: Crops, batch_size: int = 64) -> list[Prediction]:
    """``face.predict``: face crops (RGB 0-255, (N,H,W,3) or one (H,W,3)) through a loaded Keras model or a model
    file -> per face age, gender, race and probabilities, as the demos get them (``load_predictor``)."""
    return load_predictor(model).predict(faces, batch_size)


def load_predictor(model: ModelSource, threads: int | None = None, tta: str = "none", ensemble: str = "mean",
                   weights: Any = None) -> Predictor:
    """A model file (``.keras``, ``.tflite`` with its ``.json``, ``.onnx`` with its ``.json``), or a Keras model
    already loaded -> its predictor. ``threads``: CPU threads of LiteRT and ONNX Runtime (default: all cores);
    ``tta``: test-time augmentation (facekit.infer.tta). A list of several models: an EnsemblePredictor combining them
    by ``ensemble`` with ``weights`` (facekit.infer.ensemble)."""
    check_tta(tta)
    if isinstance(model, (list, tuple)):
        if len(model) == 1 and weights is None:
            return load_predictor(model[0], threads, tta)
        ensemble_weights(len(model), ensemble, weights)  # bad weights fail before any model loads
        return EnsemblePredictor([load_predictor(m, threads, tta) for m in model], ensemble, weights)
    if not isinstance(model, (str, Path)):
        return KerasPredictor(model, tta)
    path = Path(model)
    if path.suffix not in RUNTIMES:
        raise ModelError(f"unknown model file type {path.name}: use one of {', '.join(SUFFIXES)}")
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    return KerasPredictor(path, tta) if path.suffix == ".keras" else RUNTIMES[path.suffix](path, threads, tta=tta)
