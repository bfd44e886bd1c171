"""One loader for every model file: ``load_predictor(path)`` -> a predictor whose ``predict(crops)`` gives the
results of ``facekit.infer.results`` whatever runs the model.

    .keras   Keras (imports TensorFlow; the training format)
    .tflite  LiteRT (ai-edge-litert's Interpreter, all CPU cores): no TensorFlow
    .onnx    ONNX Runtime: no TensorFlow

Several models (a list): ``EnsemblePredictor``, their probabilities combined (facekit.infer.ensemble).
Image files (``file_probabilities``): read by ``facekit.vision.images.read_image`` and resized as crops are, the
path of ``face_train.py --evaluate`` and ``--predict``.
Exported files (``face.py --export``) carry their preprocessing inside and their age bins and labels in the JSON
beside them (``facekit.infer.model_metadata``). Every predictor is a ``Predictor`` (the protocol below):
``input_size`` (crop side in pixels), ``age_bins``, ``path``, ``predict(crops, batch_size=64)``, ``probabilities``
and ``file_probabilities``. One model on one runtime is a ``RuntimePredictor``, which does the shared work (crops
resized, batched, test-time augmented) around its ``batch_probabilities``.
"""
from __future__ import annotations

import contextlib
import os
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol, TypeAlias, TypeVar, runtime_checkable

import cv2
import numpy as np
from numpy.typing import NDArray

from facekit.core.errors import InputError, ModelError
from facekit.core.extras import require
from facekit.core.labels import AgeBins
from facekit.infer.ensemble import Weights, combine, ensemble_weights, shared_age_bins
from facekit.infer.face_crops import Batch, Crop, Crops, face_batch
from facekit.infer.model_metadata import checked, metadata_path, read_metadata
from facekit.infer.results import Prediction, predictions_from
from facekit.infer.tta import check_tta, probabilities_with
from facekit.vision.images import read_image

SUFFIXES = (".keras", ".tflite", ".onnx")

# {"age", "gender", "race"} -> (N, classes), as the Keras model's outputs
Probabilities: TypeAlias = dict[str, NDArray[Any]]
ModelFile: TypeAlias = str | Path  # a .keras, .tflite or .onnx file
Output = TypeVar("Output")


class Progress(Protocol):
    """What shows how far ``file_probabilities`` got: wraps its batches, told how many there are (e.g. tqdm)."""

    def __call__(self, batches: Iterable[Batch], *, total: int) -> Iterable[Batch]: ...


class KerasModel(Protocol):
    """A Keras model already loaded (``keras.Model``), as this module uses it; typed without importing Keras."""

    @property
    def input_shape(self) -> Any: ...

    def predict_on_batch(self, x: Batch) -> Any: ...


# What load_predictor opens: a model file, a Keras model already loaded, or a sequence of them (an ensemble)
ModelSource: TypeAlias = ModelFile | KerasModel | Sequence[ModelFile | KerasModel]


@runtime_checkable
class Predictor(Protocol):
    """What every predictor offers, whatever runs its model (``RuntimePredictor``: Keras, LiteRT, ONNX Runtime) or
    however many models it combines (``EnsemblePredictor``)."""

    @property
    def input_size(self) -> int:
        """The side, in pixels, of the crops the model takes; crops of another size are resized to it."""
        ...

    @property
    def age_bins(self) -> AgeBins: ...

    @property
    def path(self) -> Path | None:
        """The model file, or None (a Keras model given loaded, an ensemble)."""
        ...

    def probabilities(self, faces: Crops, batch_size: int = 64) -> Probabilities:
        """Crops -> ``{"age", "gender", "race"}`` probability arrays, as the Keras model's outputs."""
        ...

    def predict(self, faces: Crops, batch_size: int = 64) -> list[Prediction]:
        """Crops -> one Prediction per face (none for an empty batch)."""
        ...

    def file_probabilities(self, paths: Iterable[str | Path], batch_size: int = 64,
                           progress: Progress | None = None) -> Probabilities:
        """Image files of face crops -> probabilities as ``probabilities`` gives them."""
        ...


def _as_batch(faces: Crops, size: int) -> Batch:
    """Crops (N,H,W,3) or one (H,W,3), RGB 0-255 (checked: facekit.infer.face_crops) -> float32 (N, size, size, 3),
    resized by area if needed."""
    faces = face_batch(faces)
    if faces.shape[1:3] != (size, size):
        faces = np.stack([_resized(face, size) for face in faces])
    return faces


def _resized(face: Crop, size: int) -> Crop:
    """One float32 crop (H, W, 3) -> (size, size, 3), by area: how every predictor resizes what it is given. Its
    weighted sums can land a rounding error outside 0..255 (255.00002): clipped back."""
    if face.shape[:2] == (size, size):
        return face
    return np.clip(cv2.resize(face, (size, size), interpolation=cv2.INTER_AREA), 0, 255, dtype=np.float32)


def read_faces(paths: Sequence[str | Path], size: int) -> Batch:
    """Image files of face crops -> float32 (N, size, size, 3): each read by ``read_image`` (as the demos and
    training read photos) and resized as a predictor resizes crops."""
    return np.stack([_resized(read_image(path).astype(np.float32), size) for path in paths])


def file_batches(paths: Sequence[str | Path], size: int, batch_size: int = 64) -> Iterator[Batch]:
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


def predict_batches(predict_batch: Callable[[Output], Any], batches: Iterable[Output]) -> Any:
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


def _predictions(predictor: Predictor, faces: Crops, batch_size: int) -> list[Prediction]:
    """Every predictor's ``predict``: its probabilities as Predictions, none for an empty batch."""
    if isinstance(faces, (list, tuple)) and len(faces) == 0 or isinstance(faces, np.ndarray) and faces.ndim == 4 \
            and faces.shape[0] == 0:
        return []  # no face: nothing to predict (an empty batch, as a photo without faces gives)
    return predictions_from(predictor.probabilities(faces, batch_size), predictor.age_bins)


class RuntimePredictor(ABC):
    """One model on one runtime (a ``Predictor``): crops resized, batched, test-time augmented (``tta``,
    facekit.infer.tta), results. Subclasses set ``input_size``, ``age_bins`` and ``path``, and give
    ``batch_probabilities``: a float32 batch -> {head: array}."""

    tta = "none"
    input_size: int
    age_bins: AgeBins
    path: Path | None

    @abstractmethod
    def batch_probabilities(self, batch: Batch) -> Probabilities: ...

    def probabilities(self, faces: Crops, batch_size: int = 64) -> Probabilities:
        """Crops -> ``{"age", "gender", "race"}`` probability arrays, as the Keras model's outputs."""
        batch = _as_batch(faces, self.input_size)
        return predict_batches(lambda part: probabilities_with(self.batch_probabilities, part, self.tta),
                               (batch[start:start + batch_size] for start in range(0, len(batch), batch_size)))

    def predict(self, faces: Crops, batch_size: int = 64) -> list[Prediction]:
        return _predictions(self, faces, batch_size)

    def file_probabilities(self, paths: Iterable[str | Path], batch_size: int = 64,
                           progress: Progress | None = None) -> Probabilities:
        """Image files of face crops (UTKFace's, a dataset's cached crops) -> probabilities as ``probabilities``
        gives them, the files read ``batch_size`` at a time (``file_batches``). ``progress``: wraps the batches
        (``progress(batches, total=count)``, e.g. tqdm) to show how far it got."""
        files = [str(path) for path in paths]
        if not files:
            raise InputError("no image files to predict")
        batches: Iterable[Batch] = file_batches(files, self.input_size, batch_size)
        if progress is not None:
            batches = progress(batches, total=-(-len(files) // batch_size))
        return predict_batches(lambda batch: self.probabilities(batch, batch_size), batches)


class ExportedPredictor(RuntimePredictor):
    """What the LiteRT and ONNX Runtime predictors share: metadata. Subclasses give ``run_batch``: a float32 batch ->
    the runtime's outputs in order. ``metadata``: instead of the file beside the model (the export's check runs the
    model before writing it)."""

    path: Path

    def __init__(self, path: str | Path, metadata: dict[str, Any] | None = None, tta: str = "none") -> None:
        self.path = Path(path)
        self.metadata, self.age_bins = read_metadata(path) if metadata is None else checked(metadata, path)
        self.input_size = self.metadata["input_size"]
        self.tta = check_tta(tta)

    @abstractmethod
    def run_batch(self, batch: Batch) -> list[NDArray[Any]]: ...

    def batch_probabilities(self, batch: Batch) -> Probabilities:
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

    def run_batch(self, batch: Batch) -> list[NDArray[Any]]:
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

    def run_batch(self, batch: Batch) -> list[NDArray[Any]]:
        return self._session.run(None, {self._input: batch})


class KerasPredictor(RuntimePredictor):
    """A ``.keras`` model (or one already loaded) behind the same interface; imports TensorFlow."""

    def __init__(self, model: ModelFile | KerasModel, tta: str = "none") -> None:
        require("keras", ".keras models")  # TensorFlow only for .keras models: imported here
        from facekit.backbones import model as keras_model
        self.path = Path(model) if isinstance(model, (str, Path)) else None
        self.model: KerasModel = keras_model.load_model(model) if isinstance(model, (str, Path)) else model
        self.input_size = self.model.input_shape[1]
        self.age_bins = keras_model.age_bins_of(self.model)
        self.tta = check_tta(tta)

    def batch_probabilities(self, batch: Batch) -> Probabilities:
        outputs: Probabilities = self.model.predict_on_batch(batch)
        return outputs


class EnsemblePredictor:
    """Several predictors behind one (a ``Predictor``): each reads the crops at its own input size (and with its own
    ``tta``), and their probabilities are combined by ``method`` (facekit.infer.ensemble: mean, weighted, vote) with
    ``weights``."""

    path = None

    def __init__(self, predictors: Sequence[Predictor], method: str = "mean", weights: Weights | None = None) -> None:
        ensemble_weights(len(predictors), method, weights)
        self.age_bins = shared_age_bins([p.age_bins for p in predictors])
        self.predictors, self.method, self.weights = list(predictors), method, weights
        self.input_size = max(p.input_size for p in predictors)  # crops cut once, as large as the largest needs
        self.name = f"{method} of " + ", ".join(Path(p.path).name if p.path else "model" for p in predictors)

    def probabilities(self, faces: Crops, batch_size: int = 64) -> Probabilities:
        return combine([p.probabilities(faces, batch_size) for p in self.predictors], self.method, self.weights)

    def predict(self, faces: Crops, batch_size: int = 64) -> list[Prediction]:
        return _predictions(self, faces, batch_size)

    def file_probabilities(self, paths: Iterable[str | Path], batch_size: int = 64,
                           progress: Progress | None = None) -> Probabilities:
        """Each model reads the files at its own input size, as it would alone."""
        files = list(paths)
        return combine([p.file_probabilities(files, batch_size, progress) for p in self.predictors], self.method,
                       self.weights)


# The exported files' runtimes, which take (path, threads, metadata, tta); every runtime by file suffix
EXPORTED: dict[str, type[LiteRtPredictor] | type[OnnxPredictor]] = {".tflite": LiteRtPredictor, ".onnx": OnnxPredictor}
RUNTIMES: dict[str, type[RuntimePredictor]] = {".keras": KerasPredictor, **EXPORTED}


def predict(model: ModelSource, faces: Crops, batch_size: int = 64) -> list[Prediction]:
    """``face.predict``: face crops (RGB 0-255, (N,H,W,3) or one (H,W,3)) through a loaded Keras model or a model
    file -> per face age, gender, race and probabilities, as the demos get them (``load_predictor``)."""
    return load_predictor(model).predict(faces, batch_size)


def load_predictor(model: ModelSource, threads: int | None = None, tta: str = "none", ensemble: str = "mean",
                   weights: Weights | None = None) -> Predictor:
    """A model file (``.keras``, ``.tflite`` with its ``.json``, ``.onnx`` with its ``.json``), or a Keras model
    already loaded -> its predictor. ``threads``: CPU threads of LiteRT and ONNX Runtime (default: all cores);
    ``tta``: test-time augmentation (facekit.infer.tta). A list of several models: an EnsemblePredictor combining them
    by ``ensemble`` with ``weights`` (facekit.infer.ensemble)."""
    check_tta(tta)
    if isinstance(model, Sequence) and not isinstance(model, str):
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
    return KerasPredictor(path, tta) if path.suffix == ".keras" else EXPORTED[path.suffix](path, threads, tta=tta)
