"""The age / gender / race model: input normalisation, a backbone from the registry, three softmax heads;
freezing, the frozen backbone's feature extractor, its age bins, load. Predicting on face crops is not here:
``facekit.infer.predictors.load_predictor(model).predict(crops)`` (``face.predict``), for every runtime alike."""
import zipfile
from pathlib import Path
from typing import Any

import keras
import numpy as np
from keras import layers

from facekit.backbones.preprocessing import InputNormalization
from facekit.backbones.registry import backbone_spec, create_backbone
from facekit.core.errors import InputError, ModelError
from facekit.core.labels import GENDERS, RACES, AgeBins


@keras.saving.register_keras_serializable(package="facekit")
class AgeHead(layers.Dense):
    """Softmax over age bins that remembers its bins, so a saved model knows how to turn them into years."""

    def __init__(self, age_bins: AgeBins | dict[str, Any] | None = None, **kwargs: Any) -> None:
        self.age_bins = AgeBins(**age_bins) if isinstance(age_bins, dict) else (age_bins or AgeBins())
        kwargs["units"] = self.age_bins.count
        kwargs["activation"] = "softmax"
        super().__init__(**kwargs)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "age_bins": self.age_bins.to_config()}


def build_model(backbone: str = "vggface2_resnet50", weights: str | None = None,
                input_shape: tuple[int, int, int] | None = None, freeze: str | int = "none",
                age_bins: AgeBins | dict[str, Any] | None = None) -> keras.Model:
    """Input normalisation, backbone, softmax heads ``age`` (bins), ``gender`` (male, female) and ``race`` (FairFace's
    seven, ``facekit.core.labels.RACES``).

    The input is RGB face crops with values 0-255; the first layer normalises them as the backbone expects (the
    backbone sub-model comes after it, so freezing counts only backbone layers). ``freeze``: see
    :func:`freeze_backbone`.
    """
    features_model = create_backbone(backbone, weights=weights, input_shape=input_shape)
    inputs = keras.Input(shape=features_model.input_shape[1:], name="image")
    normalized = InputNormalization(backbone_spec(backbone).normalization, name="normalization")(inputs)
    features = features_model(normalized)
    # Heads in float32, so softmax stays exact under mixed precision.
    outputs = {
        "age": AgeHead(age_bins, name="age", dtype="float32")(features),
        "gender": layers.Dense(len(GENDERS), activation="softmax", name="gender", dtype="float32")(features),
        "race": layers.Dense(len(RACES), activation="softmax", name="race", dtype="float32")(features),
    }
    model = keras.Model(inputs, outputs, name=f"face_{backbone}")
    freeze_backbone(model, freeze)
    return model


def get_backbone(model: keras.Model) -> keras.Model:
    """The backbone sub-model inside a model made by :func:`build_model`."""
    return next(layer for layer in model.layers if isinstance(layer, keras.Model))


def feature_extractor(model: keras.Model) -> keras.Model:
    """RGB 0-255 crops -> backbone features: the model without its heads (same layers, same weights)."""
    inputs = keras.Input(shape=model.input_shape[1:], name="image")
    features = get_backbone(model)(model.get_layer("normalization")(inputs))
    return keras.Model(inputs, features, name=f"{model.name}_features")


def frozen_layer_count(backbone: keras.Model, freeze: str | int) -> int:
    """How many leading backbone layers ``freeze`` freezes: an int, ``none``, ``all`` or a stage name (up to and
    including the stage's last layer, as the backbone's entry in ``facekit/backbones/registry.py`` declares its
    stages)."""
    count = len(backbone.layers)
    if isinstance(freeze, str) and freeze.lstrip("-").isdigit():
        freeze = int(freeze)
    if isinstance(freeze, int) and not isinstance(freeze, bool):
        if not 0 <= freeze <= count:
            raise InputError(f"freeze must be between 0 and {count} layers for {backbone.name}, not {freeze}")
        return freeze
    if freeze == "none":
        return 0
    if freeze == "all":
        return count
    stages = dict(backbone_spec(backbone.name).stages)
    if freeze in stages:
        return 1 + max(i for i, layer in enumerate(backbone.layers) if layer.name.startswith(stages[freeze]))
    raise InputError(f"invalid freeze value {freeze!r}: use a layer count (0-{count}), "
                       f"'none', 'all' or a stage: {', '.join(stages)}")


def freeze_backbone(model: keras.Model, freeze: str | int) -> int:
    """Freezes the first layers of the backbone; frozen BatchNorm layers then run in inference mode."""
    backbone = get_backbone(model)
    frozen = frozen_layer_count(backbone, freeze)
    for index, layer in enumerate(backbone.layers):
        layer.trainable = index >= frozen
    return frozen


def trainable_summary(model: keras.Model) -> str:
    """One line on what is frozen, printed before training."""
    backbone = get_backbone(model)
    frozen = sum(not layer.trainable for layer in backbone.layers)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    total = model.count_params()
    return (f"backbone {backbone.name}: {frozen} of {len(backbone.layers)} layers frozen; "
            f"trainable parameters {trainable:,} of {total:,}")


def age_bins_of(model: keras.Model) -> AgeBins:
    return model.get_layer("age").age_bins


def load_model(path: str | Path) -> keras.Model:
    """A whole model saved by training (``.keras``), ready for :func:`predict`."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    if path.suffix == ".keras" and not zipfile.is_zipfile(path):
        raise ModelError(f"{path} is not a Keras model: a .keras file is a zip archive, and this is not one "
                           "(it was expected to be a model saved by face_train.py or face.save_model)")
    try:
        model = keras.saving.load_model(path, compile=False)
    except Exception as error:  # Keras raises many types for a corrupt or foreign file
        reason = " ".join(str(error).split())
        raise ModelError(f"cannot load model {path}: {error.__class__.__name__}: {reason}") from error
    layers_by_name = {layer.name: layer for layer in getattr(model, "layers", [])}
    if not (isinstance(layers_by_name.get("age"), AgeHead) and "gender" in layers_by_name and "race" in layers_by_name):
        raise ModelError(f"{path} is not an age/gender/race model of this project (no age, gender and race heads)")
    if not isinstance(model.output, dict):  # the heads by name, as build_model makes them
        raise ModelError(f"{path} gives its outputs as a {type(model.output).__name__}, not by head name "
                         "({'age': ..., 'gender': ..., 'race': ...}, as build_model makes them)")
    if not isinstance(layers_by_name.get("normalization"), InputNormalization):
        raise ModelError(f"{path} has no input normalisation layer: it was saved by an older version of this "
                           "project, which normalised images outside the model; retrain it, or build the same model "
                           "with build_model and copy its weights over (set_weights)")
    return model
