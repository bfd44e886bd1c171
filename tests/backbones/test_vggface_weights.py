"""keras-vggface's weights files (facekit/backbones/vggface_weights.py), read into the ResNet50 by layer name."""
import numpy as np
import pytest

from facekit.backbones.resnet50 import keras3_name, vggface2_resnet50
from facekit.backbones.vggface_weights import load_keras_vggface_weights
from facekit.core.errors import ModelError
from tests import keras_vggface_layout as layout


def test_every_layer_is_loaded_by_name_or_nothing_is(tmp_path):
    path = tmp_path / "notop.h5"
    weights = layout.random_weights(seed=5)
    layout.write_h5(path, weights)
    model = vggface2_resnet50((64, 64, 3))
    assert load_keras_vggface_weights(model, path) is model
    name, tensors = next(iter(weights.items()))
    np.testing.assert_array_equal(model.get_layer(keras3_name(name)).weights[0].numpy(), tensors[0][1])

    del weights["conv5_3_1x1_increase"]
    layout.write_h5(tmp_path / "partial.h5", weights)
    fresh = vggface2_resnet50((64, 64, 3))
    before = fresh.get_layer("conv1_7x7_s2").weights[0].numpy().copy()
    with pytest.raises(ModelError, match="no weights for layer 'conv5_3_1x1_increase'"):
        load_keras_vggface_weights(fresh, tmp_path / "partial.h5")
    np.testing.assert_array_equal(fresh.get_layer("conv1_7x7_s2").weights[0].numpy(), before)  # none assigned
    with pytest.raises(ModelError, match="weights file not found"):
        load_keras_vggface_weights(fresh, tmp_path / "missing.h5")
