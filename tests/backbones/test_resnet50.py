"""The VGGFace2 ResNet50 (facekit/backbones/resnet50.py): keras-vggface's names and blocks, at any input size."""
from facekit.backbones.resnet50 import STAGES, keras3_name, vggface2_resnet50


def test_keras_vggface_names_map_to_keras_3_names():
    assert keras3_name("conv2_1_1x1_reduce/bn") == "conv2_1_1x1_reduce_bn"
    assert keras3_name("conv1/7x7_s2") == "conv1_7x7_s2"


def test_blocks_and_a_small_input_build():
    model = vggface2_resnet50((64, 64, 3))  # smaller than keras-vggface takes: the average pool shrinks
    assert model.name == "vggface2_resnet50" and model.output_shape == (None, 2048)
    projections = [layer.name for layer in model.layers if layer.name.endswith("_1x1_proj")]
    assert projections == [f"conv{stage}_1_1x1_proj" for stage, _, _ in STAGES]  # one shortcut per stage
    assert sum(layer.name.endswith("_1x1_increase") for layer in model.layers) == sum(b for _, _, b in STAGES)
