"""Every backbone behind one factory, ``create_backbone(name, ...)``: preprocessed image -> feature vector."""
from dataclasses import dataclass
from typing import Callable

from facekit.compact_cnns import levi_hassner, simple_cnn
from facekit.errors import FaceKitError
from facekit.resnet50 import vggface2_resnet50
from facekit.vggface_weights import fetch_vggface2_weights, load_keras_vggface_weights


@dataclass(frozen=True)
class BackboneSpec:
    build: Callable
    input_size: int  # natural input side in pixels
    pretrained: str | None = None  # name accepted by ``weights``, if published weights exist


BACKBONES = {
    "vggface2_resnet50": BackboneSpec(vggface2_resnet50, 224, pretrained="vggface2"),
    "simple_cnn": BackboneSpec(simple_cnn, 96),
    "levi_hassner": BackboneSpec(levi_hassner, 227),
}


def backbone_spec(name):
    if name not in BACKBONES:
        raise FaceKitError(f"unknown backbone '{name}'; choose one of: {', '.join(BACKBONES)}")
    return BACKBONES[name]


def create_backbone(name="vggface2_resnet50", weights=None, input_shape=None, pooling="avg"):
    """``weights``: None (random init), the backbone's pretrained name (``vggface2``) or a keras-vggface file."""
    spec = backbone_spec(name)
    if input_shape is None:
        input_shape = (spec.input_size, spec.input_size, 3)
    model = spec.build(input_shape=tuple(input_shape), pooling=pooling)
    if weights is None or weights == "none":
        return model
    if spec.pretrained is None:
        raise FaceKitError(f"no pretrained weights exist for '{name}'; use weights=None (random init)")
    path = fetch_vggface2_weights() if weights == spec.pretrained else weights
    return load_keras_vggface_weights(model, path)
