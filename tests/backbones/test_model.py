"""face.py: keras-vggface weights, ResNet50 freezing, input normalisation, heads, predict, save and load."""
import zipfile

import h5py
import keras
import numpy as np
import pytest

import face
from facekit.backbones import pretrained
from facekit.backbones.model import freeze_backbone, frozen_layer_count, get_backbone
from facekit.backbones.registry import BACKBONES
from facekit.core.errors import FaceKitError
from tests import keras_vggface_layout as layout


@pytest.fixture(scope="module")
def vggface_file(tmp_path_factory):
    """A no-top weights file in keras-vggface's exact layout, with random weights."""
    path = tmp_path_factory.mktemp("weights") / "rcmalli_vggface_tf_notop_resnet50.h5"
    weights = layout.random_weights(seed=1)
    layout.write_h5(path, weights)
    return path, weights


def test_resnet50_topology_matches_keras_vggface():
    backbone = face.create_backbone("vggface2_resnet50", input_shape=(224, 224, 3))
    assert len(backbone.layers) == 175
    assert backbone.count_params() == 23_561_152
    assert backbone.output_shape == (None, 2048)


@pytest.mark.slow
def test_loaded_file_reproduces_every_tensor_and_keras_vggface_output(vggface_file):
    path, weights = vggface_file
    backbone = face.create_backbone("vggface2_resnet50", weights=str(path), input_shape=(200, 200, 3))
    loaded = 0
    for name, tensors in weights.items():
        layer = backbone.get_layer(name.replace("/", "_"))
        for (weight_name, array), variable in zip(tensors, layer.weights):
            assert weight_name.rsplit("/", 1)[-1].split(":")[0] in variable.path
            np.testing.assert_array_equal(variable.numpy(), array)
            loaded += 1
    assert loaded == 53 + 53 * 4  # 53 convolutions, each with a 4-tensor BatchNorm

    images = np.random.default_rng(0).uniform(0, 255, (2, 200, 200, 3)).astype(np.float32)
    x = face.preprocess_input(images, "vggface2")
    ours = backbone.predict(x, verbose=0)
    reference = layout.forward(weights, x)
    np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-4 * np.abs(reference).max())


def test_file_with_classifier_loads(tmp_path):
    path = tmp_path / "rcmalli_vggface_tf_resnet50.h5"
    weights = layout.random_weights(seed=2, classifier=True)
    layout.write_h5(path, weights)
    backbone = face.create_backbone("vggface2_resnet50", weights=str(path), input_shape=(64, 64, 3))
    np.testing.assert_array_equal(backbone.get_layer("conv5_3_1x1_increase").weights[0].numpy(),
                                  weights["conv5_3_1x1_increase"][0][1])


def test_file_missing_a_layer_names_it(tmp_path):
    weights = layout.random_weights(seed=3)
    del weights["conv4_2_3x3/bn"]
    layout.write_h5(tmp_path / "partial.h5", weights)
    with pytest.raises(FaceKitError, match="conv4_2_3x3_bn"):
        face.create_backbone("vggface2_resnet50", weights=str(tmp_path / "partial.h5"), input_shape=(64, 64, 3))


def test_file_of_another_architecture_is_refused(tmp_path):
    vgg16 = {"conv1_1": [("conv1_1/kernel:0", np.zeros((3, 3, 3, 64), np.float32)),
                         ("conv1_1/bias:0", np.zeros(64, np.float32))]}
    layout.write_h5(tmp_path / "vgg16.h5", vgg16)
    with pytest.raises(FaceKitError, match="no weights for layer 'conv1_7x7_s2'"):
        face.create_backbone("vggface2_resnet50", weights=str(tmp_path / "vgg16.h5"), input_shape=(64, 64, 3))


def test_shape_mismatch_is_named(tmp_path):
    weights = layout.random_weights(seed=4)
    weights["conv3_1_3x3"] = [("conv3_1_3x3/kernel:0", np.zeros((3, 3, 128, 64), np.float32))]
    layout.write_h5(tmp_path / "bad_shape.h5", weights)
    with pytest.raises(FaceKitError, match=r"conv3_1_3x3/kernel.*\(3, 3, 128, 64\)"):
        face.create_backbone("vggface2_resnet50", weights=str(tmp_path / "bad_shape.h5"), input_shape=(64, 64, 3))


def test_truncated_and_foreign_files_give_clear_errors(vggface_file, tmp_path):
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(vggface_file[0].read_bytes()[:1_000_000])
    with pytest.raises(FaceKitError, match="cannot read weights file"):
        face.create_backbone("vggface2_resnet50", weights=str(truncated), input_shape=(64, 64, 3))
    keras3 = tmp_path / "keras3.h5"
    with h5py.File(keras3, "w") as f:
        f.create_group("layers")
    with pytest.raises(FaceKitError, match="not a Keras 2 weights file"):
        face.create_backbone("vggface2_resnet50", weights=str(keras3), input_shape=(64, 64, 3))
    with pytest.raises(FaceKitError, match="not found"):
        face.create_backbone("vggface2_resnet50", weights=str(tmp_path / "absent.h5"))


def test_vggface2_weights_file_with_another_checksum_is_refused(tmp_path):
    source = BACKBONES["vggface2_resnet50"].weights["vggface2"]
    wrong = tmp_path / source.file_name
    wrong.write_bytes(b"not the published file")
    with pytest.raises(FaceKitError, match="sha256 mismatch"):
        pretrained.fetch_weights(source, "the vggface2 weights", tmp_path)


def test_preprocess_input_does_not_wrap_dark_pixels():
    dark = np.full((2, 2, 3), 10, np.uint8)
    dark[..., 0] = 5  # R
    out = face.preprocess_input(dark, "vggface2")
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[0, 0], [10 - 91.4953, 10 - 103.8827, 5 - 131.0912], rtol=1e-6)
    batch = face.preprocess_input(np.stack([dark, dark]).astype(np.float64), "vggface2")
    assert batch.shape == (2, 2, 2, 3) and batch.dtype == np.float32
    # dlib's input layer: RGB order kept, means subtracted, divided by 256.
    np.testing.assert_allclose(face.preprocess_input(dark, "dlib")[0, 0],
                               [(5 - 122.782) / 256, (10 - 117.001) / 256, (10 - 104.298) / 256], rtol=1e-6)


@pytest.fixture(scope="module")
def resnet_model():
    return face.build_model(input_shape=(64, 64, 3))


@pytest.mark.parametrize("freeze,expected_frozen", [
    ("none", 0), ("all", 175), (125, 125), ("125", 125),
    # 5 stem layers, 12 per conv block, 10 per identity block
    ("conv2", 37), ("conv3", 79), ("conv4", 141), ("conv5", 173),
])
def test_freezing_resnet50(freeze, expected_frozen, resnet_model):
    model = resnet_model
    freeze_backbone(model, freeze)
    backbone = get_backbone(model)
    frozen = [layer for layer in backbone.layers if not layer.trainable]
    assert len(frozen) == expected_frozen
    assert frozen == backbone.layers[:expected_frozen]
    if isinstance(freeze, str) and freeze.startswith("conv"):
        blocks = dict(conv2=3, conv3=4, conv4=6, conv5=3)[freeze]
        assert backbone.layers[expected_frozen - 1].name == f"{freeze}_{blocks}_relu"
        assert backbone.layers[expected_frozen].name.startswith(f"conv{int(freeze[4]) + 1}_") or freeze == "conv5"
    trainable_backbone = sum(int(np.prod(w.shape))
                             for layer in backbone.layers[expected_frozen:] for w in layer.trainable_weights)
    heads = sum(int(np.prod(w.shape)) for name in ("age", "gender", "race") for w in model.get_layer(name).weights)
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == trainable_backbone + heads


def test_invalid_freeze_values():
    model = face.build_model("simple_cnn", input_shape=(32, 32, 3))
    for bad in ("conv9", "most", 999, -1):
        with pytest.raises(FaceKitError, match="freeze"):
            frozen_layer_count(get_backbone(model), bad)


def test_frozen_batchnorm_runs_in_inference_mode():
    model = face.build_model(input_shape=(32, 32, 3), freeze="all")
    x = np.random.default_rng(0).normal(0, 50, (4, 32, 32, 3)).astype(np.float32)
    # ResNet50 has no dropout: with all of it frozen, training=True must change nothing.
    np.testing.assert_allclose(model(x, training=True)["gender"], model(x, training=False)["gender"], rtol=1e-5)
    bn = get_backbone(model).get_layer("conv1_7x7_s2_bn")
    before = bn.moving_mean.numpy().copy()
    model(x, training=True)
    np.testing.assert_array_equal(bn.moving_mean.numpy(), before)


def test_heads_and_dex_expectation():
    bins = face.AgeBins()
    model = face.build_model("simple_cnn", input_shape=(48, 48, 3), age_bins=bins)
    outputs = model(np.zeros((3, 48, 48, 3), np.float32))
    # race: FairFace's seven classes
    assert outputs["age"].shape == (3, 101) and outputs["gender"].shape == (3, 2) and outputs["race"].shape == (3, 7)
    np.testing.assert_allclose(np.sum(outputs["race"], axis=1), 1.0, rtol=1e-5)
    # Expectation: half at 20, half at 40 -> 30; the open last bin counts as 100.
    p = np.zeros((2, 101), np.float32)
    p[0, [20, 40]] = 0.5
    p[1, 100] = 1.0
    np.testing.assert_allclose(bins.expected_age(p), [30.0, 100.0])
    np.testing.assert_array_equal(bins.to_bin([0, 1, 37.9, 100, 116]), [0, 1, 37, 100, 100])
    five = face.AgeBins(start=0, stop=80, step=5)
    assert five.count == 17 and five.centres[1] == 7.0 and five.centres[-1] == 80
    soft = bins.soft_labels([30, 116, 1, 0, 99], sigma=2.0)
    np.testing.assert_allclose(soft.sum(axis=1), 1.0, rtol=1e-5)
    assert soft[0].argmax() == 30 and soft[1].argmax() == 100
    # The target's expectation is the age itself, also where the Gaussian meets the ends of the range.
    np.testing.assert_allclose(bins.expected_age(soft), [30, 100, 1, 0, 99], atol=1e-2)
    assert 0.2 < soft[0, 31] / soft[0, 30] < 0.95  # and it is spread, not one-hot


def test_age_groups():
    ages = [0, 2, 3, 5, 10, 14, 17, 23, 30, 35, 40, 46, 50, 57, 60, 90]
    expected = [0, 0, 0, 1, 2, 2, 3, 4, 4, 4, 5, 6, 6, 7, 7, 7]
    # Gaps go to the nearer group (23 -> 25-32, 46 -> 48-53); ties (3, 35) to the younger one.
    np.testing.assert_array_equal(face.age_group(ages), expected)
    assert face.age_group_names()[-1] == "60+"


def test_save_load_same_predictions(tmp_path):
    model = face.build_model("simple_cnn", input_shape=(40, 40, 3), age_bins=face.AgeBins(0, 90, 2))
    path = tmp_path / "model.keras"
    face.save_model(model, path)
    restored = face.load_model(path)
    faces = np.random.default_rng(1).integers(0, 256, (5, 40, 40, 3), dtype=np.uint8)
    before, after = face.predict(model, faces), face.predict(restored, faces)
    assert [p.to_dict() for p in before] == [p.to_dict() for p in after]
    assert restored.get_layer("age").age_bins == face.AgeBins(0, 90, 2)
    first = before[0].to_dict()  # the prediction's fields of a face's JSON entry
    assert first["gender"] in face.GENDERS and first["race"] in face.RACES
    assert abs(sum(first["probabilities"]["race"].values()) - 1) < 1e-3
    assert first["race_probability"] == max(first["probabilities"]["race"].values())
    assert abs(sum(first["probabilities"]["age_group"].values()) - 1) < 1e-3


def test_load_model_errors(tmp_path):
    with pytest.raises(FaceKitError, match="not found"):
        face.load_model(tmp_path / "absent.keras")
    bogus = tmp_path / "bogus.keras"
    bogus.write_bytes(b"garbage")
    with pytest.raises(FaceKitError, match="is not a Keras model"):
        face.load_model(bogus)
    with zipfile.ZipFile(tmp_path / "other.keras", "w") as archive:  # a zip, but not Keras'
        archive.writestr("readme.txt", "hello")
    with pytest.raises(FaceKitError, match="cannot load model .*other.keras") as caught:
        face.load_model(tmp_path / "other.keras")
    assert "\n" not in str(caught.value)
    foreign = tmp_path / "foreign.keras"
    keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="age")]).save(foreign)
    with pytest.raises(FaceKitError, match="not an age/gender/race model") as caught:
        face.load_model(foreign)
    assert "\n" not in str(caught.value)


def test_model_saved_without_its_normalisation_is_refused_in_one_line(tmp_path):
    """The format before the model normalised its own input: backbone straight after the input."""
    model = face.build_model("simple_cnn", input_shape=(32, 32, 3))
    inputs = keras.Input((32, 32, 3))
    features = get_backbone(model)(inputs)
    old = keras.Model(inputs, {name: model.get_layer(name)(features) for name in ("age", "gender", "race")})
    old.save(tmp_path / "old.keras")
    with pytest.raises(FaceKitError, match="no input normalisation layer") as caught:
        face.load_model(tmp_path / "old.keras")
    assert "\n" not in str(caught.value)


@pytest.fixture(scope="module")
def small_model():
    return face.build_model("simple_cnn", input_shape=(32, 32, 3))


@pytest.mark.parametrize("case, message", [
    ("floats in 0..1", "look scaled to 0..1 .*multiply them by 255"),
    ("negative values", "must hold RGB values 0-255, not -"),
    ("NaN", "NaN or infinite"),
    ("4 channels", r"must be RGB.*\(2, 32, 32, 4\); drop the alpha channel"),
    ("gray 2-d", r"must be RGB.*not \(1, 32, 32\)"),
    ("ragged list", "face crops of different shapes"),
    ("empty crop", "empty face crop"),
    ("strings", "arrays of numbers"),
])
def test_predict_refuses_what_is_not_a_batch_of_0_255_rgb_crops(case, message, small_model):
    crops = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3)).astype(np.float32)
    bad = {
        "floats in 0..1": crops / 255,
        "negative values": crops - 128,
        "NaN": np.where(crops > 250, np.nan, crops),
        "4 channels": np.concatenate([crops, crops[..., :1]], axis=-1),
        "gray 2-d": crops[:1, :, :, 0],
        "ragged list": [crops[0], crops[1, :20]],
        "empty crop": crops[:, :0],
        "strings": np.array([["a"]]),
    }[case]
    with pytest.raises(FaceKitError, match=message) as caught:
        face.predict(small_model, bad)
    assert "\n" not in str(caught.value)
    # The same crops as 0-255 values, in any numeric type, one or many, are predicted.
    assert face.predict(small_model, crops.astype(np.uint8)) == face.predict(small_model, list(crops))  # unrounded
    assert len(face.predict(small_model, crops[0])) == 1


def test_a_keras_file_that_is_no_model_says_what_it_is(tmp_path):
    text = tmp_path / "notes.keras"
    text.write_text("my notes\n")
    with pytest.raises(FaceKitError, match=r"notes.keras is not a Keras model: a .keras file is a zip archive"):
        face.load_model(text)
    inputs = keras.Input((4,))
    plain = keras.Model(inputs, {name: keras.layers.Dense(n, name=name)(inputs)
                                 for name, n in (("age", 101), ("gender", 2), ("race", 5))})
    plain.save(tmp_path / "plain_dense.keras")
    with pytest.raises(FaceKitError, match="not an age/gender/race model of this project") as caught:
        face.load_model(tmp_path / "plain_dense.keras")
    assert "\n" not in str(caught.value)


def test_face_py_refuses_an_input_size_below_the_backbones_minimum_in_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        face.main(["--backbone", "simple_cnn", "--input-size", "8"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip() == ("error: input size 8x8 is too small for simple_cnn: "
                                               "it needs at least 16 pixels a side")
