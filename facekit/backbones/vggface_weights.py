"""Reads keras-vggface's published weights files (Keras 2 HDF5 layout) into the Keras 3 ResNet50.

Layout of such a file: the root attribute ``layer_names`` lists every layer; each layer is a group (nested,
since ``conv1/7x7_s2`` contains a ``/``) whose attribute ``weight_names`` lists its tensors, such as
``conv1/7x7_s2/kernel:0``, stored under that (again nested) path inside the group.
"""
from pathlib import Path

import h5py
import keras
import numpy as np

from facekit.backbones.resnet50 import keras3_name
from facekit.core.errors import FaceKitError, ModelError

# Keras 2 tensor suffix -> index into a Keras 3 layer's ``weights`` list.
_WEIGHT_ORDER = {
    "kernel": 0, "bias": 1,  # Conv2D / Dense
    "gamma": 0, "beta": 1, "moving_mean": 2, "moving_variance": 3,  # BatchNormalization
}


def _read_layers(path: str | Path) -> dict[str, dict[str, np.ndarray]]:
    """{keras3 layer name: {suffix: array}} from a keras-vggface file; raises FaceKitError if unreadable."""
    try:
        with h5py.File(path, "r") as f:
            if "layer_names" not in f.attrs:
                raise ModelError(f"{path} is not a Keras 2 weights file (no 'layer_names' attribute); "
                                   "expected keras-vggface's rcmalli_vggface_tf_notop_resnet50.h5")
            tensors: dict[str, dict[str, np.ndarray]] = {}
            for raw_layer in f.attrs["layer_names"]:
                layer = raw_layer.decode() if isinstance(raw_layer, bytes) else str(raw_layer)
                group = f[layer]
                weights: dict[str, np.ndarray] = {}
                for raw_weight in group.attrs.get("weight_names", []):
                    weight = raw_weight.decode() if isinstance(raw_weight, bytes) else str(raw_weight)
                    suffix = weight.rsplit("/", 1)[-1].split(":")[0]
                    weights[suffix] = np.asarray(group[weight])
                if weights:
                    tensors[keras3_name(layer)] = weights
            return tensors
    except FaceKitError:
        raise
    except (OSError, KeyError, ValueError) as error:
        raise ModelError(f"cannot read weights file {path}: {error}") from error


def load_keras_vggface_weights(model: keras.Model, path: str | Path) -> keras.Model:
    """Loads every weighted layer of ``model`` by name from a keras-vggface file, checking every shape.

    Layers in the file that the model lacks (the classifier of ``rcmalli_vggface_tf_resnet50.h5``) are
    skipped; a model layer that the file lacks, or any shape mismatch, stops with the first one named.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"weights file not found: {path}")
    tensors = _read_layers(path)
    assignments = []
    for layer in model.layers:
        if not layer.weights:
            continue
        stored = tensors.get(layer.name)
        if stored is None:
            raise ModelError(f"{path} does not fit this model: it has no weights for layer '{layer.name}' "
                               f"(is it keras-vggface's ResNet50 file?)")
        if len(stored) != len(layer.weights):
            raise ModelError(f"{path} does not fit this model: layer '{layer.name}' has "
                               f"{len(stored)} tensors in the file, {len(layer.weights)} in the model")
        for suffix, array in stored.items():
            if suffix not in _WEIGHT_ORDER:
                raise ModelError(f"{path}: unexpected tensor '{suffix}' in layer '{layer.name}'")
            variable = layer.weights[_WEIGHT_ORDER[suffix]]
            if tuple(variable.shape) != array.shape:
                raise ModelError(f"{path} does not fit this model: '{layer.name}/{suffix}' has shape "
                                   f"{array.shape} in the file, {tuple(variable.shape)} in the model")
            assignments.append((variable, array))
    for variable, array in assignments:  # only once everything checked out: no half-loaded model
        variable.assign(array)
    return model
