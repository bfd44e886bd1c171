"""Every registered backbone, whatever it is: its declaration holds, it builds, runs, freezes, saves and loads."""
import numpy as np
import pytest

from facekit.backbones.model import build_model, feature_extractor, freeze_backbone, get_backbone, load_model
from facekit.backbones.preprocessing import NORMALIZATIONS, InputNormalization, preprocess_input
from facekit.backbones.registry import BACKBONES, create_backbone
from facekit.core.errors import FaceKitError
from facekit.infer.predictors import predict

NAMES = sorted(BACKBONES)


def small_size(spec):
    """Small but not the smallest: big enough for every stage to leave a real feature map."""
    return max(spec.min_input_size, 64)


@pytest.fixture(scope="module", params=NAMES)
def model(request):
    spec = BACKBONES[request.param]
    size = small_size(spec)
    return build_model(spec.name, input_shape=(size, size, 3))


@pytest.mark.parametrize("name", NAMES)
def test_declaration_holds_for_the_built_network(name):
    spec = BACKBONES[name]
    backbone = create_backbone(name, input_shape=(spec.min_input_size,) * 2 + (3,))
    assert backbone.name == name  # the model finds a backbone's entry by this name
    assert spec.normalization in NORMALIZATIONS
    # Each stage's prefix names some layers, and the stages follow one another in the network's order.
    spans = []
    for stage, prefix in spec.stages:
        indices = [i for i, layer in enumerate(backbone.layers) if layer.name.startswith(prefix)]
        assert indices, f"{name}: no layer starts with {prefix!r} (stage {stage})"
        spans.append((min(indices), max(indices)))
    assert all(earlier[1] < later[0] for earlier, later in zip(spans, spans[1:])), spans
    # The smallest declared input runs and gives a feature; one pixel less is refused up front, in one line.
    features = backbone(np.zeros((1, spec.min_input_size, spec.min_input_size, 3), np.float32))
    assert features.shape[0] == 1 and np.prod(features.shape[1:]) > 0
    with pytest.raises(FaceKitError, match=f"too small for {name}: it needs at least {spec.min_input_size}"):
        create_backbone(name, input_shape=(spec.min_input_size - 1,) * 2 + (3,))


def test_model_normalises_its_input_as_the_backbone_declares(model):
    spec = BACKBONES[get_backbone(model).name]
    first = model.layers[1]
    assert isinstance(first, InputNormalization) and first.mode == spec.normalization
    size = model.input_shape[1]
    crops = np.random.default_rng(0).integers(0, 256, (2, size, size, 3)).astype(np.float32)
    expected = get_backbone(model)(preprocess_input(crops, spec.normalization))
    np.testing.assert_allclose(feature_extractor(model)(crops), expected, rtol=1e-5, atol=1e-5)


def test_freeze_at_each_stage_and_by_count(model):
    backbone = get_backbone(model)
    spec = BACKBONES[backbone.name]
    layers = backbone.layers
    for stage, prefix in spec.stages:
        frozen = freeze_backbone(model, stage)
        last = max(i for i, layer in enumerate(layers) if layer.name.startswith(prefix))
        assert frozen == last + 1
        assert [not layer.trainable for layer in layers] == [i <= last for i in range(len(layers))]
    for count in (0, 1, len(layers) // 2, len(layers)):
        assert freeze_backbone(model, count) == count
        assert [not layer.trainable for layer in layers] == [i < count for i in range(len(layers))]
    freeze_backbone(model, "all")
    heads = sum(int(np.prod(w.shape)) for name in ("age", "gender", "race") for w in model.get_layer(name).weights)
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == heads
    freeze_backbone(model, "none")
    assert all(layer.trainable for layer in layers)


def test_save_load_same_predictions(model, tmp_path):
    path = tmp_path / "model.keras"
    model.save(path)
    restored = load_model(path)
    size = model.input_shape[1]
    faces = np.random.default_rng(1).integers(0, 256, (3, size, size, 3), dtype=np.uint8)
    assert [p.to_dict() for p in predict(restored, faces)] == [p.to_dict() for p in predict(model, faces)]
    assert restored.layers[1].mode == model.layers[1].mode
