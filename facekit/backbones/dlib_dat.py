"""dlib's ``.dat`` network files read in pure Python (``read_dlib_dat``): the file parser. Loading one into
:mod:`facekit.backbones.dlib_resnet` is :mod:`facekit.backbones.dlib_weights`; the published file and its download,
:mod:`facekit.backbones.dlib_download`.

The format, as dlib's ``serialize.h``, ``float_details.h``, ``dnn/core.h``, ``dnn/layers.h``, ``dnn/input.h``,
``dnn/loss.h`` and ``cuda/tensor.h`` write it (no header, no magic number, no type names but the layers' own
version strings):

- integers: one control byte (bit 7: negative, for signed types; low 4 bits: how many bytes follow), then that
  many bytes, little-endian magnitude. 0 is ``01 00``. A size of 0, or one larger than the C++ type, is an error.
- floating-point scalars: the 64-bit mantissa, then the 16-bit exponent, each as an integer above (the comment
  in ``serialize.h`` says exponent first; the code writes the mantissa first): value = mantissa * 2**exponent,
  exponents 32000/32001/32002 meaning +inf/-inf/NaN.
- strings: length (unsigned integer), then the bytes. bool: the character ``'1'`` or ``'0'``.
- tensors: version 2, num_samples, k, nr, nc (integers), then the values as raw little-endian float32 (not as
  the float scalars above). ``alias_tensor`` (a view's shape): version 1 and the four sizes, no values.
- networks: ``add_loss_layer`` writes its version (1), the loss's details, then its subnetwork. ``add_layer``
  writes its version, then its whole subnetwork, then its own details and bookkeeping; ``add_tag_layer`` and
  ``add_skip_layer`` write a version and their subnetwork only. So the file holds every wrapper's version from
  the loss inwards, then the input layer, then the layers' parameters from the input outwards. Tags and skips
  leave only a version number (1; add_layer writes 2, the one over the input 2 or 3): which tag an
  ``add_prev`` adds is not in the file, it is in the C++ type, here :func:`dlib_layer_plan`.
"""
import builtins
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np

from facekit.core.errors import ModelError

CONV_MODE, FC_MODE = 0, 1  # dlib's layer_mode
FC_HAS_BIAS, FC_NO_BIAS = 0, 1  # dlib's fc_bias_mode
_SPECIAL_EXPONENTS = {32000: math.inf, 32001: -math.inf, 32002: math.nan}


@dataclass
class DlibLayer:
    """One layer as the file holds it: its type, version string, settings and tensors (dlib's NCHW shapes)."""
    type: str  # con, affine, bn, relu, max_pool, avg_pool, add_prev, fc, input_rgb_image_sized, loss_metric
    version: str  # as written, e.g. "con_4"
    offset: int  # byte where its details begin
    fields: dict[str, Any] = field(default_factory=dict)  # sizes, strides, multipliers, flags
    # name -> float32 array (num_samples, k, nr, nc) or smaller
    tensors: dict[str, np.ndarray] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)  # add_layer's bookkeeping: flags and (normally empty) buffers


@dataclass
class DlibNetwork:
    loss: DlibLayer
    input: DlibLayer
    wrapper_versions: list[int]  # the version of every add_layer/tag/skip, from the loss inwards
    layers: list[DlibLayer]  # the layers with details (add_layer's), from the input outwards

    @property
    def nesting(self) -> str:
        """One letter per wrapper from the loss inwards: L (add_layer, version 2+) or T (tag or skip, 1)."""
        return "".join("L" if version >= 2 else "T" for version in self.wrapper_versions)


class _FormatError(Exception):
    pass


class _Truncated(_FormatError):
    pass


class _Reader:
    """dlib's primitive encodings over bytes; ``context`` says what is being read, for error messages."""

    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.pos = 0
        self.context = "the start of the file"

    def take(self, n: builtins.int) -> memoryview:
        if self.pos + n > len(self.data):
            raise _Truncated(f"needs {n:,} more bytes at byte {self.pos:,}")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def int(self, nbytes: builtins.int = 8, signed: builtins.bool = True) -> builtins.int:
        control = self.take(1)[0]
        size = control & (0x0F if signed else 0x8F)
        if size == 0 or size > nbytes:
            raise _FormatError(f"byte 0x{control:02x} at {self.pos - 1:,} is not an integer of at most "
                               f"{nbytes} bytes")
        value = int.from_bytes(self.take(size), "little")
        return -value if signed and control & 0x80 else value

    def uint(self, nbytes: builtins.int = 8) -> builtins.int:
        return self.int(nbytes, signed=False)

    def float(self) -> builtins.float:
        mantissa, exponent = self.int(8), self.int(2)
        if exponent in _SPECIAL_EXPONENTS:
            return _SPECIAL_EXPONENTS[exponent]
        try:
            return math.ldexp(float(mantissa), exponent)
        except OverflowError:
            raise _FormatError(f"float {mantissa}*2**{exponent} before byte {self.pos:,} is out of range") from None

    def bool(self) -> builtins.bool:
        char = bytes(self.take(1))
        if char not in (b"0", b"1"):
            raise _FormatError(f"byte {char!r} at {self.pos - 1:,} is not a bool ('0' or '1')")
        return char == b"1"

    def string(self, limit: builtins.int = 256) -> str:
        start = self.pos
        length = self.uint()
        if length > limit:
            raise _FormatError(f"a string of {length:,} bytes at byte {start:,} (expected a layer's version string)")
        return bytes(self.take(length)).decode("latin-1")

    def looks_like_input_layer(self) -> builtins.bool:
        """Whether an ``input...`` version string starts here (where the nested versions end)."""
        start = self.pos
        try:
            length = self.uint()
            return 5 <= length <= 64 and bytes(self.take(5)) == b"input"
        except _FormatError:
            return False
        finally:
            self.pos = start

    def shape(self) -> tuple[builtins.int, ...]:
        return tuple(self.int() for _ in range(4))

    def tensor(self) -> np.ndarray:
        version = self.int(4)
        if version != 2:
            raise _FormatError(f"tensor version {version} before byte {self.pos:,} (dlib writes 2)")
        shape = self.shape()
        if min(shape) < 0:
            raise _FormatError(f"tensor of negative size {shape} before byte {self.pos:,}")
        count = math.prod(shape)
        return np.frombuffer(self.take(4 * count), dtype="<f4").reshape(shape).astype(np.float32)

    def alias(self) -> tuple[builtins.int, ...]:
        version = self.int(4)
        if version != 1:
            raise _FormatError(f"alias_tensor version {version} before byte {self.pos:,} (dlib writes 1)")
        return self.shape()


def _split(params: np.ndarray, aliases: Mapping[str, tuple[int, ...]], layer: DlibLayer) -> dict[str, np.ndarray]:
    """Slices of a layer's ``params`` tensor with the shapes of ``aliases`` ({name: shape}, in order)."""
    layer.fields["params_shape"] = params.shape
    flat = params.reshape(-1)  # its own shape, kept in fields["params_shape"]: (n, 1, 1, 1), fc: (in, out, 1, 1)
    sizes = {name: math.prod(shape) for name, shape in aliases.items()}
    if sum(sizes.values()) != flat.size:
        raise _FormatError(f"{layer.version}: {flat.size:,} parameters for views of {sum(sizes.values()):,} "
                           f"({', '.join(f'{n} {s}' for n, s in aliases.items())})")
    tensors: dict[str, np.ndarray] = {}
    start = 0
    for name, shape in aliases.items():
        if sizes[name]:
            tensors[name] = flat[start:start + sizes[name]].reshape(shape)
        start += sizes[name]
    return tensors


def _multipliers(r: _Reader, fields: dict[str, Any], names: tuple[str, ...]) -> None:
    for name in names:
        fields[name] = r.float()


_LR_WD = ("learning_rate_multiplier", "weight_decay_multiplier",
          "bias_learning_rate_multiplier", "bias_weight_decay_multiplier")


def _read_con(r: _Reader, layer: DlibLayer) -> None:
    params = r.tensor()
    f = layer.fields
    f["num_filters"], f["nr"], f["nc"] = r.int(), r.int(), r.int()
    f["stride_y"], f["stride_x"], f["padding_y"], f["padding_x"] = (r.int(4) for _ in range(4))
    aliases = {"filters": r.alias(), "biases": r.alias()}
    _multipliers(r, f, _LR_WD)
    f["use_bias"] = r.bool() if layer.version in ("con_5", "con_6") else True
    if layer.version == "con_6":
        f["use_relu"] = r.bool()
    layer.tensors = _split(params, aliases, layer)


def _read_affine(r: _Reader, layer: DlibLayer) -> None:
    params = r.tensor()
    aliases = {"gamma": r.alias(), "beta": r.alias()}
    layer.fields["mode"] = r.int(4)
    if layer.version == "affine_2":
        layer.fields["disabled"] = r.bool()
    layer.tensors = _split(params, aliases, layer)


def _read_bn(r: _Reader, layer: DlibLayer) -> None:
    params = r.tensor()
    aliases = {"gamma": r.alias(), "beta": r.alias()}
    for name in ("means", "invstds", "running_means", "running_variances"):
        layer.tensors[name] = r.tensor()
    layer.fields["mode"] = CONV_MODE if layer.version == "bn_con2" else FC_MODE
    layer.fields["num_updates"], layer.fields["running_stats_window_size"] = r.uint(), r.uint()
    _multipliers(r, layer.fields, _LR_WD + ("eps",))
    layer.tensors.update(_split(params, aliases, layer))


def _read_relu(r: _Reader, layer: DlibLayer) -> None:
    if layer.version == "relu_2":
        layer.fields["disabled"] = r.bool()


def _read_pool(r: _Reader, layer: DlibLayer) -> None:
    f = layer.fields
    f["nr"], f["nc"] = r.int(), r.int()
    f["stride_y"], f["stride_x"], f["padding_y"], f["padding_x"] = (r.int(4) for _ in range(4))


def _read_fc(r: _Reader, layer: DlibLayer) -> None:
    f = layer.fields
    f["num_outputs"], f["num_inputs"] = r.uint(), r.uint()
    params = r.tensor()
    aliases = {"weights": r.alias(), "biases": r.alias()}
    f["bias_mode"] = r.int(4)
    _multipliers(r, f, _LR_WD)
    f["use_bias"] = r.bool() if layer.version == "fc_3" else f["bias_mode"] == FC_HAS_BIAS
    layer.tensors = _split(params, aliases, layer)


def _read_nothing(r: _Reader, layer: DlibLayer) -> None:
    pass


def _read_input(r: _Reader, layer: DlibLayer) -> None:
    layer.fields["avg_red"], layer.fields["avg_green"], layer.fields["avg_blue"] = r.float(), r.float(), r.float()
    if layer.version == "input_rgb_image_sized":
        layer.fields["nr"], layer.fields["nc"] = r.uint(), r.uint()


def _read_loss_metric(r: _Reader, layer: DlibLayer) -> None:
    if layer.version == "loss_metric_2":
        layer.fields["margin"], layer.fields["dist_thresh"] = r.float(), r.float()
    else:  # "loss_metric_": the values dlib hard-coded then
        layer.fields["margin"], layer.fields["dist_thresh"] = 0.1, 0.75


# version string -> (type, reader)
Readers: TypeAlias = dict[str, tuple[str, Callable[[_Reader, DlibLayer], None]]]
_LAYER_READERS: Readers = {
    **{v: ("con", _read_con) for v in ("con_4", "con_5", "con_6")},
    **{v: ("affine", _read_affine) for v in ("affine_", "affine_2")},
    **{v: ("bn", _read_bn) for v in ("bn_con2", "bn_fc2")},
    **{v: ("relu", _read_relu) for v in ("relu_", "relu_2")},
    "max_pool_2": ("max_pool", _read_pool),
    "avg_pool_2": ("avg_pool", _read_pool),
    "add_prev_": ("add_prev", _read_nothing),
    **{v: ("fc", _read_fc) for v in ("fc_2", "fc_3")},
}
_INPUT_READERS: Readers = {v: (v, _read_input) for v in ("input_rgb_image", "input_rgb_image_sized")}
_LOSS_READERS: Readers = {v: ("loss_metric", _read_loss_metric) for v in ("loss_metric_", "loss_metric_2")}


def _details(r: _Reader, readers: Readers, what: str) -> DlibLayer:
    offset = r.pos
    r.context = what
    version = r.string()
    if version not in readers:
        raise _FormatError(f"unknown {what} version string {version!r} at byte {offset:,} "
                           f"(known: {', '.join(readers)})")
    kind, read = readers[version]
    layer = DlibLayer(kind, version, offset)
    r.context = f"{what} ({version} at byte {offset:,})"
    read(r, layer)
    return layer


def _layer_state(r: _Reader, layer: DlibLayer, version: int, over_input: bool) -> None:
    """add_layer's bookkeeping after its details; the one over the input layer writes grad_final instead."""
    s = layer.state
    s["this_layer_setup_called"], s["gradient_input_is_stale"] = r.bool(), r.bool()
    s["get_output_and_gradient_input_disabled"] = r.bool()
    s["x_grad"], s["cached_output"] = r.tensor(), r.tensor()
    if over_input:
        s["grad_final"] = r.tensor()
        if version >= 3:
            s["sample_expansion_factor"] = r.uint(4)
    elif version >= 2:
        s["params_grad"] = r.tensor()


def _parse(r: _Reader) -> DlibNetwork:
    r.context = "the loss layer's version"
    version = r.int(4)
    if version != 1:
        raise _FormatError(f"the file starts with {version} where dlib writes add_loss_layer's version 1")
    loss = _details(r, _LOSS_READERS, "the loss layer")
    versions = []
    r.context = "the nested layers' versions"
    while not r.looks_like_input_layer():
        start = r.pos
        versions.append(r.int(4))
        if not 1 <= versions[-1] <= 3:
            raise _FormatError(f"{versions[-1]} at byte {start:,} is not a layer version (1 to 3)")
    if not versions or versions[-1] < 2:
        raise _FormatError("the input layer is not under an add_layer (a tag or skip over the input layer "
                           "is not supported)")
    input_layer = _details(r, _INPUT_READERS, "the input layer")
    layers = []
    add_layer_versions = [v for v in versions if v >= 2]
    for number, version in enumerate(reversed(add_layer_versions)):
        layer = _details(r, _LAYER_READERS, f"layer {number} from the input")
        _layer_state(r, layer, version, over_input=number == 0)
        layers.append(layer)
    if r.pos != len(r.data):
        raise _FormatError(f"{len(r.data) - r.pos:,} bytes follow the network at byte {r.pos:,}")
    return DlibNetwork(loss, input_layer, versions, layers)


def read_dlib_dat(path: str | Path) -> DlibNetwork:
    """The whole network in a dlib ``.dat`` file, parsed; FaceKitError (one line) if it is not one."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ModelError(f"cannot read {path}: {error.strerror or error}") from error
    if data[:3] == b"BZh":
        raise ModelError(f"{path} is bzip2-compressed: decompress it first (bunzip2 {path.name})")
    if data[:4] == b"\x89HDF":
        raise ModelError(f"{path} is an HDF5 (.h5) file, not a dlib .dat network file")
    r = _Reader(data)
    try:
        return _parse(r)
    except _Truncated:
        raise ModelError(f"{path} is truncated: it ends at byte {len(data):,} while reading {r.context}") from None
    except _FormatError as error:
        raise ModelError(f"{path} is not a dlib network file that fits: {error}, in {r.context}") from error
