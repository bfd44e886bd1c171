"""Every backbone, declared once: ``create_backbone(name, ...)`` builds one (normalised image -> feature vector).

A backbone's entry says everything the rest of the project needs to know about it: how to build it, its natural
and its smallest input size, the input normalisation it expects (a key of
``facekit.backbones.preprocessing.NORMALIZATIONS``, applied by the model's first layer), its stages for ``--freeze
STAGE`` and where its published weights come from.

Adding a backbone: write its builder in its own module (``build(input_shape) -> keras.Model`` named as its key
here, with layer names that start with its stage prefixes, in order), then add one entry below; the tests
parametrised over ``BACKBONES`` pick it up (``dlib_resnet`` below is an example).
"""
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import keras

from facekit.backbones import dlib_download
from facekit.backbones import dlib_resnet as dlib
from facekit.backbones.compact_cnns import levi_hassner, simple_cnn
from facekit.backbones.pretrained import WeightsSource, fetch_weights
from facekit.backbones.resnet50 import vggface2_resnet50
from facekit.backbones.vggface_weights import load_keras_vggface_weights
from facekit.core.errors import InputError


def prefix_stages(*names: str) -> tuple[tuple[str, str], ...]:
    """Stages whose layers are named ``STAGE_...``: ((name, prefix), ...) in order."""
    return tuple((name, f"{name}_") for name in names)


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    build: Callable[..., keras.Model]  # build(input_shape) -> keras.Model named ``name``
    input_size: int  # natural input side in pixels: the default everywhere
    min_input_size: int  # smallest side that still leaves a feature map
    normalization: str  # key of facekit.backbones.preprocessing.NORMALIZATIONS
    stages: tuple[tuple[str, str], ...]  # ((stage name, layer-name prefix), ...) in network order, for --freeze STAGE
    # published weights: name -> WeightsSource; the first reads --weights PATH
    weights: dict[str, WeightsSource] = field(default_factory=dict)


BACKBONES = {spec.name: spec for spec in (
    BackboneSpec(
        name="vggface2_resnet50", build=vggface2_resnet50, input_size=224,
        min_input_size=32,  # five stride-2 steps: 32 px leave a 1x1 map
        normalization="vggface2", stages=prefix_stages("conv1", "conv2", "conv3", "conv4", "conv5"),
        weights={"vggface2": WeightsSource(
            file_name="rcmalli_vggface_tf_notop_resnet50.h5",
            url="https://github.com/rcmalli/keras-vggface/releases/download/v2.0/rcmalli_vggface_tf_notop_resnet50.h5",
            sha256="ad81577b744b2c8cc60cfb953747670cef18c3eed56ffff6007a00088614b14f", size=94_694_792,
            load=load_keras_vggface_weights)}),
    # dlib's face-recognition ResNet (CC0), pretrained on about 3 million faces: the face-pretrained network that
    # can be downloaded freely. Its .dat file is published bzip2-compressed (facekit.backbones.pretrained
    # decompresses it).
    BackboneSpec(
        name="dlib_resnet", build=dlib.dlib_resnet, input_size=dlib.INPUT_SIZE, min_input_size=dlib.MIN_INPUT_SIZE,
        normalization="dlib", stages=prefix_stages(*dlib.STAGES),
        weights={"dlib": dlib_download.weights_source()}),
    # The compact CNNs are trained from scratch, so any normalisation would do; they were trained (RESULTS.md, the
    # default model) with the VGGFace2 one, which their trained weights therefore expect.
    BackboneSpec(
        name="simple_cnn", build=simple_cnn, input_size=96, min_input_size=16,  # four 2x2 poolings
        normalization="vggface2", stages=prefix_stages("conv1", "conv2", "conv3", "conv4")),
    BackboneSpec(
        name="levi_hassner", build=levi_hassner, input_size=227, min_input_size=63,  # 7x7/4 conv, three 3x3/2 pools
        normalization="vggface2", stages=prefix_stages("conv1", "conv2", "conv3")),
)}


def backbone_spec(name: str) -> BackboneSpec:
    if name not in BACKBONES:
        raise InputError(f"unknown backbone '{name}'; choose one of: {', '.join(BACKBONES)}")
    return BACKBONES[name]


def input_shape_for(spec: BackboneSpec, input_shape: Sequence[int] | None = None) -> tuple[int, ...]:
    """``input_shape`` (default: the natural size) checked against the backbone's smallest input."""
    if input_shape is None:
        return (spec.input_size, spec.input_size, 3)
    height, width = input_shape[:2]
    if min(height, width) < spec.min_input_size:
        raise InputError(f"input size {height}x{width} is too small for {spec.name}: "
                           f"it needs at least {spec.min_input_size} pixels a side")
    return tuple(input_shape)


def create_backbone(name: str = "vggface2_resnet50", weights: str | None = None,
                    input_shape: Sequence[int] | None = None) -> keras.Model:
    """``weights``: None or ``none`` (random init), the name of a published source (``vggface2``), or a file in
    the layout of the backbone's first source."""
    spec = backbone_spec(name)
    model = spec.build(input_shape=input_shape_for(spec, input_shape))
    if weights is None or weights == "none":
        return model
    if not spec.weights:
        raise InputError(f"no pretrained weights exist for '{name}'; train it from random weights: "
                           "--weights none (weights=None in Python)")
    if weights in spec.weights:
        source = spec.weights[weights]
        return source.load(model, fetch_weights(source, f"the {weights} weights of {name}"))
    return next(iter(spec.weights.values())).load(model, weights)
