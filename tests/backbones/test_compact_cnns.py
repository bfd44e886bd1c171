"""The compact CNNs (facekit/backbones/compact_cnns.py): their layers as the README describes them."""
from facekit.backbones.compact_cnns import levi_hassner, simple_cnn


def test_simple_cnn_is_four_convolutions_then_dense_256():
    model = simple_cnn((96, 96, 3))
    convolutions = [layer for layer in model.layers if layer.name.endswith("_3x3")]
    assert [layer.filters for layer in convolutions] == [32, 64, 128, 256]
    assert model.name == "simple_cnn" and model.output_shape == (None, 256)


def test_levi_hassner_is_three_normalised_convolutions_then_two_dense_512():
    model = levi_hassner((227, 227, 3))
    convolutions = [layer for layer in model.layers if layer.name.startswith("conv") and layer.name[-1].isdigit()]
    assert [(layer.filters, layer.kernel_size, layer.strides) for layer in convolutions] == [
        (96, (7, 7), (4, 4)), (256, (5, 5), (1, 1)), (384, (3, 3), (1, 1))]
    assert sum(layer.name.endswith("_bn") for layer in model.layers) == 3
    assert model.name == "levi_hassner" and model.output_shape == (None, 512)
