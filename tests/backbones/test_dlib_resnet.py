"""dlib's face-recognition ResNet in Keras: exact against dlib's own descriptors; the .dat reader; the download."""
import bz2
import copy
import hashlib
import math
import re
import time

import h5py
import keras
import numpy as np
import pytest

from facekit.backbones import dlib_dat, dlib_download, pretrained
from facekit.backbones.dlib_dat import DlibNetwork, read_dlib_dat
from facekit.backbones.dlib_resnet import (
    INPUT_SIZE,
    MIN_INPUT_SIZE,
    STAGES,
    Affine,
    ZeroPadAdd,
    dlib_descriptor_model,
    dlib_resnet,
)
from facekit.backbones.dlib_weights import load_dlib_weights
from facekit.backbones.preprocessing import preprocess_input
from facekit.backbones.registry import create_backbone
from facekit.core.errors import InputError, ModelError
from tests.shared_data import SHARED

DLIB_DIR = SHARED / "models" / "dlib_face_recognition"
DAT = DLIB_DIR / "dlib_face_recognition_resnet_model_v1.dat"
REFERENCE = DLIB_DIR / "dlib_reference_descriptors.npz"
needs_dlib = pytest.mark.skipif(not (DAT.is_file() and REFERENCE.is_file()),
                                reason=f"dlib's network and reference descriptors not found in {DLIB_DIR}")


# ----------------------------------------------------------------------------------------------------------
# A writer of dlib's serialisation, written from dlib's serialize.h, float_details.h, dnn/*.h and cuda/tensor.h.

def w_int(value):
    """Signed integer: control byte (0x80 if negative | byte count), then the magnitude, little-endian."""
    magnitude = abs(value)
    body = magnitude.to_bytes(max(1, (magnitude.bit_length() + 7) // 8), "little")
    return bytes([len(body) | (0x80 if value < 0 else 0)]) + body


w_uint = w_int  # the same bytes for values >= 0


def w_float(value, digits):
    """float_details: mantissa (int64), then exponent (int16); digits 24 for a C++ float, 53 for a double."""
    if math.isinf(value) or math.isnan(value):
        return w_int(0) + w_int(32002 if math.isnan(value) else 32000 if value > 0 else 32001)
    fraction, exponent = math.frexp(value)
    mantissa, exponent = int(fraction * (1 << digits)), exponent - digits
    for _ in range(8):  # shift off low zero bytes, as float_details does
        if mantissa & 0xFF:
            break
        mantissa >>= 8
        exponent += 8
    return w_int(mantissa) + w_int(exponent)


def w_f32(value):
    return w_float(float(np.float32(value)), 24)


def w_f64(value):
    return w_float(value, 53)


def w_str(text):
    return w_uint(len(text)) + text.encode()


def w_bool(flag):
    return b"1" if flag else b"0"


def w_tensor(array):
    array = np.asarray(array, dtype="<f4")
    return w_int(2) + b"".join(w_int(n) for n in array.shape) + array.tobytes()


def w_alias(shape):
    return w_int(1) + b"".join(w_int(n) for n in shape)


EMPTY = np.zeros((0, 0, 0, 0), np.float32)


def w_params(layer, names):
    """The params tensor holding the named views in order, then the views' shapes."""
    flat = np.concatenate([layer.tensors[n].reshape(-1) for n in names if n in layer.tensors])
    shapes = [layer.tensors[n].shape if n in layer.tensors else (0, 0, 0, 0) for n in names]
    return w_tensor(flat.reshape(layer.fields["params_shape"])), shapes


def w_fields(f, names, writer):
    return b"".join(writer(f[name]) for name in names)


LR_WD = ("learning_rate_multiplier", "weight_decay_multiplier",
         "bias_learning_rate_multiplier", "bias_weight_decay_multiplier")


def w_details(layer):
    """A dlib.DlibLayer written back in its version's field order (layers.h, input.h, loss.h)."""
    v, f, t = layer.version, layer.fields, layer.tensors
    out = w_str(v)
    if layer.type == "con":
        params, (filters, biases) = w_params(layer, ("filters", "biases"))
        out += params + w_fields(f, ("num_filters", "nr", "nc", "stride_y", "stride_x", "padding_y", "padding_x"),
                                 w_int)
        out += w_alias(filters) + w_alias(biases) + w_fields(f, LR_WD, w_f64)
        out += w_bool(f["use_bias"]) if v in ("con_5", "con_6") else b""
        out += w_bool(f["use_relu"]) if v == "con_6" else b""
    elif layer.type == "affine":
        params, (gamma, beta) = w_params(layer, ("gamma", "beta"))
        out += params + w_alias(gamma) + w_alias(beta) + w_int(f["mode"])
        out += w_bool(f["disabled"]) if v == "affine_2" else b""
    elif layer.type == "bn":
        params, (gamma, beta) = w_params(layer, ("gamma", "beta"))
        out += params + w_alias(gamma) + w_alias(beta)
        out += b"".join(w_tensor(t[n]) for n in ("means", "invstds", "running_means", "running_variances"))
        out += w_uint(f["num_updates"]) + w_uint(f["running_stats_window_size"])
        out += w_fields(f, LR_WD + ("eps",), w_f64)
    elif layer.type == "relu":
        out += w_bool(f["disabled"]) if v == "relu_2" else b""
    elif layer.type in ("max_pool", "avg_pool"):
        out += w_fields(f, ("nr", "nc", "stride_y", "stride_x", "padding_y", "padding_x"), w_int)
    elif layer.type == "fc":
        params, (weights, biases) = w_params(layer, ("weights", "biases"))
        out += w_uint(f["num_outputs"]) + w_uint(f["num_inputs"]) + params + w_alias(weights) + w_alias(biases)
        out += w_int(f["bias_mode"]) + w_fields(f, LR_WD, w_f64) + (w_bool(f["use_bias"]) if v == "fc_3" else b"")
    elif layer.type.startswith("input"):
        out += w_fields(f, ("avg_red", "avg_green", "avg_blue"), w_f32)
        out += w_uint(f["nr"]) + w_uint(f["nc"]) if v == "input_rgb_image_sized" else b""
    elif layer.type == "loss_metric":
        out += w_fields(f, ("margin", "dist_thresh"), w_f32) if v == "loss_metric_2" else b""
    elif layer.type != "add_prev":
        raise ValueError(layer.type)
    return out


def w_state(state):
    out = b"".join(w_bool(state[n]) for n in ("this_layer_setup_called", "gradient_input_is_stale",
                                               "get_output_and_gradient_input_disabled"))
    out += b"".join(w_tensor(state[n]) for n in ("x_grad", "cached_output", "grad_final", "params_grad")
                    if n in state)
    return out + (w_uint(state["sample_expansion_factor"]) if "sample_expansion_factor" in state else b"")


def w_network(net):
    """add_loss_layer(version 1, loss, subnet); each add_layer writes version, subnet, details, state."""
    return (w_int(1) + w_details(net.loss) + b"".join(w_int(v) for v in net.wrapper_versions)
            + w_details(net.input) + b"".join(w_details(layer) + w_state(layer.state) for layer in net.layers))


def tiny_network(seed=0):
    """A small dlib network with every layer kind the reader knows, in dlib's own terms:

    loss_metric<fc<3, avg_pool_everything<relu<add_prev1<affine<con<4,3,3,1,1, tag1<relu<bn_con<
    max_pool<3,3,2,2, con<4,5,5,2,2, input_rgb_image_sized<16>>>>>>>>>>>>>
    """
    rng = np.random.default_rng(seed)
    L = dlib_dat.DlibLayer

    def state(over_input=False):
        s = {"this_layer_setup_called": True, "gradient_input_is_stale": True,
             "get_output_and_gradient_input_disabled": False, "x_grad": EMPTY, "cached_output": EMPTY}
        if over_input:
            return {**s, "grad_final": EMPTY, "sample_expansion_factor": 1}
        return {**s, "params_grad": rng.normal(size=(3, 1, 1, 1)).astype(np.float32)}  # kept, not used

    def lr(**extra):
        return {"learning_rate_multiplier": 1.0, "weight_decay_multiplier": -0.5,
                "bias_learning_rate_multiplier": 1e-300, "bias_weight_decay_multiplier": 0.0, **extra}

    def rand(*shape):
        return rng.normal(size=shape).astype(np.float32)

    layers = [
        L("con", "con_5", 0, {"num_filters": 4, "nr": 5, "nc": 5, "stride_y": 2, "stride_x": 2, "padding_y": 0,
                              "padding_x": 0, "params_shape": (304, 1, 1, 1), **lr(use_bias=True)},
          {"filters": rand(4, 3, 5, 5), "biases": rand(1, 4, 1, 1)}, state(True)),
        L("max_pool", "max_pool_2", 0, {"nr": 3, "nc": 3, "stride_y": 2, "stride_x": 2, "padding_y": 0,
                                        "padding_x": 0}, {}, state()),
        L("bn", "bn_con2", 0, {"mode": 0, "params_shape": (8, 1, 1, 1), "num_updates": 300,
                               "running_stats_window_size": 100, **lr(eps=1e-5)},
          {"means": rand(1, 4, 1, 1), "invstds": rand(1, 4, 1, 1), "running_means": rand(1, 4, 1, 1),
           "running_variances": rand(1, 4, 1, 1), "gamma": rand(1, 4, 1, 1), "beta": rand(1, 4, 1, 1)}, state()),
        L("relu", "relu_2", 0, {"disabled": False}, {}, state()),
        L("con", "con_6", 0, {"num_filters": 4, "nr": 3, "nc": 3, "stride_y": 1, "stride_x": 1, "padding_y": 1,
                              "padding_x": 1, "params_shape": (144, 1, 1, 1), **lr(use_bias=False, use_relu=True)},
          {"filters": rand(4, 4, 3, 3)}, state()),
        L("affine", "affine_2", 0, {"mode": 0, "disabled": False, "params_shape": (8, 1, 1, 1)},
          {"gamma": rand(1, 4, 1, 1), "beta": rand(1, 4, 1, 1)}, state()),
        L("add_prev", "add_prev_", 0, {}, {}, state()),
        L("relu", "relu_", 0, {}, {}, state()),
        L("avg_pool", "avg_pool_2", 0, {"nr": 0, "nc": 0, "stride_y": 1, "stride_x": 1, "padding_y": 0,
                                        "padding_x": 0}, {}, state()),
        L("fc", "fc_3", 0, {"num_outputs": 3, "num_inputs": 4, "params_shape": (5, 3, 1, 1), "bias_mode": 0,
                              **lr(use_bias=True)},
          {"weights": rand(4, 3, 1, 1), "biases": rand(1, 3, 1, 1)}, state()),
    ]
    loss = L("loss_metric", "loss_metric_2", 0, {"margin": 0.04, "dist_thresh": 0.6})
    image = L("input_rgb_image_sized", "input_rgb_image_sized", 0,
              {"avg_red": 122.782, "avg_green": -0.0, "avg_blue": math.inf, "nr": 16, "nc": 16})
    versions = [2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 3]  # fc .. con<4,3,3>, tag1, relu .. con over the input
    return DlibNetwork(loss, image, versions, layers)


def test_integers_and_floats_read_back_exactly():
    ints = [0, 1, -1, 127, 128, 255, 256, -65_536, 2**40 + 3, -(2**63 - 1)]
    floats32 = [0.0, 1.0, -1.0, 0.04, 122.782, 3e-38, -1e30, math.inf, -math.inf]
    floats64 = [1.0, -0.5, 1e-300, math.pi, 2.0**-1074, 1.7e308]
    data = b"".join(map(w_int, ints)) + b"".join(map(w_f32, floats32)) + b"".join(map(w_f64, floats64))
    data += w_float(math.nan, 24)
    r = dlib_dat._Reader(data)
    assert [r.int() for _ in ints] == ints
    assert [np.float32(r.float()) for _ in floats32] == [np.float32(x) for x in floats32]
    assert [r.float() for _ in floats64] == floats64
    assert math.isnan(r.float()) and r.pos == len(data)
    assert w_int(0) == b"\x01\x00" and w_f32(0.04) == bytes.fromhex("030ad7a3811c")  # as in the published file


def test_reader_reads_back_a_file_written_in_dlibs_format(tmp_path):
    expected = tiny_network()
    path = tmp_path / "tiny.dat"
    path.write_bytes(w_network(expected))
    net = read_dlib_dat(path)
    assert net.wrapper_versions == expected.wrapper_versions and net.nesting == "LLLLLLTLLLL"
    assert (net.loss.version, net.input.version) == ("loss_metric_2", "input_rgb_image_sized")
    assert net.loss.fields == {"margin": np.float32(0.04), "dist_thresh": np.float32(0.6)}
    assert net.input.fields["avg_red"] == np.float32(122.782) and net.input.fields["avg_blue"] == math.inf
    assert math.copysign(1, net.input.fields["avg_green"]) == 1  # -0.0 has no sign in float_details
    assert [layer.version for layer in net.layers] == [layer.version for layer in expected.layers]
    for got, want in zip(net.layers, expected.layers):
        assert got.fields == want.fields, got.version
        assert got.tensors.keys() == want.tensors.keys(), got.version
        for name in want.tensors:
            np.testing.assert_array_equal(got.tensors[name], want.tensors[name])
        for name, value in want.state.items():
            np.testing.assert_array_equal(got.state[name], value)
    assert net.layers[0].offset > net.input.offset > net.loss.offset  # parameters come after every version


@needs_dlib
def test_writer_reproduces_the_published_file_byte_for_byte(published):
    assert w_network(published) == DAT.read_bytes()


@pytest.fixture(scope="module")
def published():
    if not DAT.is_file():
        pytest.skip(f"dlib's network not found at {DAT}")
    return read_dlib_dat(DAT)


@needs_dlib
def test_published_file_is_anet_type(published):
    kinds = [layer.version for layer in published.layers]
    assert len(kinds) == 108 and len(published.wrapper_versions) == 130
    assert {k: kinds.count(k) for k in set(kinds)} == {"con_4": 29, "affine_": 29, "relu_": 29, "add_prev_": 14,
                                                       "avg_pool_2": 5, "max_pool_2": 1, "fc_2": 1}
    assert sum(t.size for layer in published.layers for t in layer.tensors.values()) == 5_614_592


# ----------------------------------------------------------------------------------------------------------
# The network


@pytest.fixture(scope="module")
def descriptor_model():
    return dlib_descriptor_model(dlib_resnet((INPUT_SIZE, INPUT_SIZE, 3)))


@needs_dlib
def test_descriptors_equal_dlibs_own(descriptor_model, record_property):
    load_dlib_weights(descriptor_model, DAT)
    reference = np.load(REFERENCE)
    descriptors = descriptor_model.predict(preprocess_input(reference["chips"], "dlib"), verbose=0)
    difference = float(np.abs(descriptors - reference["descriptors"]).max())
    record_property("max_abs_difference_vs_dlib", difference)
    print(f"max abs difference vs dlib 20.0.1's descriptors: {difference:.3g}")
    assert difference < 1e-4


@needs_dlib
def test_backbone_nested_in_a_model_loads_without_fc(published):
    """The registry's case: the backbone inside a larger model; the file's fc is checked, not loaded."""
    backbone = dlib_resnet((INPUT_SIZE, INPUT_SIZE, 3))
    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 3))
    load_dlib_weights(keras.Model(inputs, keras.layers.Dense(2, name="head")(backbone(inputs))), DAT)
    reference = np.load(REFERENCE)
    features = backbone.predict(preprocess_input(reference["chips"][:4], "dlib"), verbose=0)
    fc = published.layers[-1].tensors["weights"].reshape(256, 128)
    np.testing.assert_allclose(features @ fc, reference["descriptors"][:4], rtol=0, atol=1e-4)


def test_dlib_normalisation_is_dlibs_input_layer():
    pixels = np.array([[[[0, 128, 255], [122, 117, 104]]]], dtype=np.uint8)
    expected = (pixels.astype(np.float32) - np.float32([122.782, 117.001, 104.298])) / np.float32(256)
    np.testing.assert_array_equal(preprocess_input(pixels, "dlib"), expected)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(preprocess_input(keras.ops.convert_to_tensor(pixels),
                                                                              "dlib")), expected)


def test_zero_pad_add_is_dlibs_add_of_unequal_tensors():
    a = np.arange(2 * 3 * 3 * 2, dtype=np.float32).reshape(2, 3, 3, 2)
    b = -np.arange(2 * 4 * 4 * 1, dtype=np.float32).reshape(2, 4, 4, 1)
    expected = np.zeros((2, 4, 4, 2), np.float32)  # tt::add: missing elements count as 0
    expected[:, :3, :3, :2] += a
    expected[:, :4, :4, :1] += b
    out = keras.ops.convert_to_numpy(ZeroPadAdd()([a, b]))
    np.testing.assert_array_equal(out, expected)
    assert ZeroPadAdd().compute_output_shape([(None, 3, 3, 2), (None, 4, 4, 1)]) == (None, 4, 4, 2)


@pytest.mark.parametrize("size, side", [(112, 1), (150, 2), (200, 3), (MIN_INPUT_SIZE, 1)])
def test_builds_at_sizes(size, side):
    backbone = dlib_resnet((size, size, 3))
    assert backbone.get_layer("global_pool").input.shape == (None, side, side, 256)
    assert backbone.output_shape == (None, 256)
    assert backbone.count_params() == 5_581_824 and len(backbone.layers) == 108


def test_refuses_inputs_below_the_minimum():
    with pytest.raises(InputError, match=f"at least {MIN_INPUT_SIZE} pixels"):
        create_backbone("dlib_resnet", input_shape=(MIN_INPUT_SIZE - 1, 150, 3))


def test_layer_names_say_where_they_are(descriptor_model):
    weighted = [layer.name for layer in descriptor_model.layers if layer.weights]
    assert weighted[:2] == ["stem_conv", "stem_affine"] and weighted[-1] == "fc"
    assert all(name.startswith(STAGES) for name in weighted[:-1])
    assert [name for name in weighted if name.endswith("conv1")][3] == "level2_block1_conv1"
    assert descriptor_model.get_layer("level4_block1_add").output.shape == (None, 4, 4, 256)  # 3x3 + 4x4
    assert len(descriptor_model.layers) == 109 and descriptor_model.count_params() == 5_614_592
    assert INPUT_SIZE == 150


def test_keras_file_round_trip(tmp_path):
    model = dlib_resnet((112, 112, 3))
    x = np.random.default_rng(0).normal(size=(2, 112, 112, 3)).astype(np.float32)
    for layer in model.layers:  # weights that differ from the initial ones
        if isinstance(layer, Affine):
            layer.set_weights([np.full_like(w, 0.5 + i) for i, w in enumerate(layer.get_weights())])
    model.save(tmp_path / "dlib.keras")
    loaded = keras.models.load_model(tmp_path / "dlib.keras")
    assert isinstance(loaded.get_layer("stem_affine"), Affine)
    assert isinstance(loaded.get_layer("level5_block1_add"), ZeroPadAdd)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=0, atol=1e-6)


# ----------------------------------------------------------------------------------------------------------
# Files that do not fit: one line, and the model unchanged


def assert_refused(model, source, match):
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(ModelError, match=match) as error:
        load_dlib_weights(model, source)
    assert "\n" not in str(error.value)
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)
    return str(error.value)


@needs_dlib
@pytest.mark.parametrize("keep", [1, 300, 20_000, 22_466_065])
def test_truncated_file_is_refused(descriptor_model, tmp_path, keep):
    path = tmp_path / "cut.dat"
    path.write_bytes(DAT.read_bytes()[:keep])
    message = assert_refused(descriptor_model, path, f"is truncated: it ends at byte {keep:,} while reading")
    if keep == 20_000:
        assert "layer 4 from the input (con_4" in message


def test_foreign_files_are_refused(descriptor_model, tmp_path):
    h5_path = tmp_path / "rcmalli_vggface_tf_notop_resnet50.h5"
    with h5py.File(h5_path, "w") as f:
        f.attrs["layer_names"] = [b"conv1/7x7_s2"]
    assert_refused(descriptor_model, h5_path, "is an HDF5 .*not a dlib .dat")
    noise = tmp_path / "noise.dat"
    noise.write_bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    assert_refused(descriptor_model, noise, "is not a dlib network file that fits")
    packed = tmp_path / "packed.dat"
    packed.write_bytes(bz2.compress(b"x" * 100))
    assert_refused(descriptor_model, packed, "bzip2-compressed: decompress it first")


def test_wrong_network_is_refused(descriptor_model, tmp_path):
    path = tmp_path / "tiny.dat"
    path.write_bytes(w_network(tiny_network()))
    assert_refused(descriptor_model, path,
                   r"input layer is input_rgb_image_sized with means \(122.782, 0, inf\) and 16x16 pixels, not dlib's")
    small = tiny_network()
    small.input.fields.update(avg_green=117.001, avg_blue=104.298, nr=150, nc=150)
    assert_refused(descriptor_model, small, "holds 10 layers; dlib's face-recognition network .* has 108")


@needs_dlib
def test_a_late_misfit_loads_nothing(descriptor_model, published):
    """A tensor that does not fit near the output: refused before any weight is set."""
    net = copy.deepcopy(published)
    last_conv = [layer for layer in net.layers if layer.type == "con"][-1]
    last_conv.tensors["filters"] = last_conv.tensors["filters"][:, :128]
    assert_refused(descriptor_model, net, r"level5_block1_conv2.*do not fit the model's level5_block1_conv2")
    net = copy.deepcopy(published)
    tag = net.nesting.index("T", 30)
    net.wrapper_versions[tag] = 2  # a tag become a layer
    assert_refused(descriptor_model, net, f"nesting of tags and skips differs from anet_type's at wrapper {tag} ")


# ----------------------------------------------------------------------------------------------------------
# fetch_dlib_weights


def sha256(data):
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def small_release(served, monkeypatch):
    """A small stand-in for the published .bz2 on the local server, with the constants pointing at it."""
    www, base = served
    payload = np.random.default_rng(2).integers(0, 256, 300_000, dtype=np.uint8).tobytes()
    packed = bz2.compress(payload)
    (www / "model.dat.bz2").write_bytes(packed)
    monkeypatch.setattr(dlib_download, "DLIB_URL", f"{base}/model.dat.bz2")
    monkeypatch.setattr(dlib_download, "DLIB_BZ2_SHA256", sha256(packed))
    monkeypatch.setattr(dlib_download, "DLIB_SHA256", sha256(payload))
    return payload


def test_fetch_downloads_checks_and_decompresses(small_release, tmp_path):
    path = dlib_download.fetch_dlib_weights(tmp_path / "weights")
    assert path == tmp_path / "weights" / dlib_download.DLIB_FILE
    assert path.read_bytes() == small_release
    assert sorted(p.name for p in path.parent.iterdir()) == [dlib_download.DLIB_FILE]
    assert dlib_download.fetch_dlib_weights(tmp_path / "weights") == path  # now the local copy


@pytest.mark.parametrize("constant", ["DLIB_BZ2_SHA256", "DLIB_SHA256"])
def test_fetch_refuses_a_download_with_a_wrong_checksum(small_release, tmp_path, monkeypatch, constant):
    monkeypatch.setattr(dlib_download, constant, "0" * 64)
    with pytest.raises(ModelError, match="could not download .*sha256 .*expected 0000.*put .* at "):
        dlib_download.fetch_dlib_weights(tmp_path / "weights")
    assert list((tmp_path / "weights").iterdir()) == []


def test_fetch_refuses_a_present_file_with_a_wrong_checksum(tmp_path):
    (tmp_path / dlib_download.DLIB_FILE).write_bytes(b"not dlib's network")
    with pytest.raises(ModelError,
                       match="is not the published dlib_face_recognition_resnet_model_v1.dat .*sha256 mismatch"):
        dlib_download.fetch_dlib_weights(tmp_path)


@needs_dlib
def test_fetch_accepts_the_published_file():
    assert dlib_download.fetch_dlib_weights(DLIB_DIR) == DAT


def test_fetch_offline_says_where_to_put_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr(dlib_download, "DLIB_URL", "http://127.0.0.1:9/model.dat.bz2")  # nothing listens
    start = time.monotonic()
    with pytest.raises(ModelError, match=f"could not download .*put {dlib_download.DLIB_FILE} .* at "
                                           f"{re.escape(str(tmp_path))}") as error:
        dlib_download.fetch_dlib_weights(tmp_path)
    assert time.monotonic() - start < pretrained.DOWNLOAD_TIMEOUT_S and "\n" not in str(error.value)
    assert list(tmp_path.iterdir()) == []
