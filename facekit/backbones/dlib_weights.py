"""dlib's network (a ``.dat`` file read by :mod:`facekit.backbones.dlib_dat`) loaded into
:mod:`facekit.backbones.dlib_resnet`: every layer of the file checked against dlib's anet_type (``dlib_layer_plan``),
then copied into the Keras model's layers."""
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeAlias

import keras
import numpy as np

from facekit.backbones.dlib_dat import CONV_MODE, FC_NO_BIAS, DlibLayer, DlibNetwork, read_dlib_dat
from facekit.backbones.dlib_resnet import DESCRIPTOR_SIZE, FEATURE_SIZE, INPUT_SIZE, LEVELS, STEM_FILTERS
from facekit.backbones.preprocessing import normalization
from facekit.core.errors import ModelError

# One step of dlib's anet_type from the input: (layer type, its settings, the Keras layer's name or None)
PlanStep: TypeAlias = tuple[str, dict[str, int], str | None]


def dlib_layer_plan(include_fc: bool = True) -> list[PlanStep]:
    """anet_type from the input outwards: (type, settings, Keras layer name or None) per dlib layer, and
    ("tag", ...)/("skip", ...) where the C++ type nests a tag or skip (they only appear as versions)."""
    plan: list[PlanStep] = [("con", {"num_filters": STEM_FILTERS, "size": 7, "stride": 2, "padding": 0}, "stem_conv"),
            ("affine", {}, "stem_affine"), ("relu", {}, None),
            ("max_pool", {"size": 3, "stride": 2, "padding": 0}, None)]
    for level, filters, blocks in LEVELS:
        for block in range(1, blocks + 1):
            prefix, down = f"{level}_block{block}", block == 1 and level != "level1"
            stride = 2 if down else 1
            plan += [("tag", {}, None),  # tag1: the block's input
                     ("con", {"num_filters": filters, "size": 3, "stride": stride, "padding": 0 if down else 1},
                      f"{prefix}_conv1"),
                     ("affine", {}, f"{prefix}_affine1"), ("relu", {}, None),
                     ("con", {"num_filters": filters, "size": 3, "stride": 1, "padding": 1}, f"{prefix}_conv2"),
                     ("affine", {}, f"{prefix}_affine2")]
            if down:  # tag2 on the conv path, skip1 back to the input, avg_pool<2,2,2,2> on it
                plan += [("tag", {}, None), ("skip", {}, None),
                         ("avg_pool", {"size": 2, "stride": 2, "padding": 0}, None)]
            plan += [("add_prev", {}, None), ("relu", {}, None)]
    plan.append(("avg_pool", {"size": 0, "stride": 1, "padding": 0}, None))  # avg_pool_everything
    plan.append(("fc", {"num_outputs": DESCRIPTOR_SIZE, "num_inputs": FEATURE_SIZE}, "fc" if include_fc else None))
    return plan


def _model_layers(model: keras.Model) -> dict[str, Any]:
    """{name: layer} over the model and the models nested in it (the first of a name wins)."""
    found: dict[str, Any] = {}
    queue = [model]
    while queue:
        current = queue.pop(0)
        for layer in getattr(current, "layers", []):
            found.setdefault(layer.name, layer)
            if hasattr(layer, "layers"):
                queue.append(layer)
    return found


def _check_settings(layer: DlibLayer, kind: str, settings: Mapping[str, int], where: str) -> None:
    """FaceKitError unless a con/pool layer has anet_type's window, stride and padding."""
    f = layer.fields
    expected = {"nr": settings["size"], "nc": settings["size"], "stride_y": settings["stride"],
                "stride_x": settings["stride"], "padding_y": settings["padding"], "padding_x": settings["padding"]}
    if kind == "con":
        expected["num_filters"] = settings["num_filters"]
    for name, value in expected.items():
        if f[name] != value:
            raise ModelError(f"{where}: {layer.version} has {name}={f[name]} where dlib's face-recognition "
                               f"network has {value}")


def _keras_arrays(layer: DlibLayer, where: str) -> list[np.ndarray]:
    """The file layer's tensors as Keras arrays: [kernel, bias] (con), [gamma, beta] (affine), [kernel] (fc)."""
    t = layer.tensors
    if layer.type == "con":
        if not layer.fields["use_bias"] or "biases" not in t:
            raise ModelError(f"{where}: the convolution has no bias; dlib's face-recognition network has one")
        return [t["filters"].transpose(2, 3, 1, 0), t["biases"].reshape(-1)]
    if layer.type == "affine":
        gamma, beta = t["gamma"], t["beta"]
        if layer.fields["mode"] != CONV_MODE or gamma.shape[2:] != (1, 1) or layer.fields.get("disabled"):
            raise ModelError(f"{where}: an affine layer that is not per channel (mode {layer.fields['mode']}, "
                               f"gamma {gamma.shape})")
        return [gamma.reshape(-1), beta.reshape(-1)]
    if layer.fields["bias_mode"] != FC_NO_BIAS or "biases" in t:
        raise ModelError(f"{where}: fc has a bias; dlib's face-recognition network's fc has none")
    return [t["weights"].reshape(layer.fields["num_inputs"], layer.fields["num_outputs"])]


def _check_input_layer(network: DlibNetwork, origin: str) -> None:
    expected = np.array(normalization("dlib").mean, dtype=np.float32)
    f = network.input.fields
    means = np.array([f["avg_red"], f["avg_green"], f["avg_blue"]], dtype=np.float32)
    size = (f.get("nr"), f.get("nc"))
    if network.input.version != "input_rgb_image_sized" or not np.array_equal(means, expected) \
            or size != (INPUT_SIZE, INPUT_SIZE):
        raise ModelError(
            f"{origin}: the input layer is {network.input.version} with means ({', '.join(f'{m:g}' for m in means)})"
            f" and {size[0]}x{size[1]} pixels, not dlib's input_rgb_image_sized<{INPUT_SIZE}> with means "
            f"({', '.join(f'{m:g}' for m in expected)}) on which the 'dlib' input normalisation relies")


def load_dlib_weights(model: keras.Model, source: str | Path | DlibNetwork) -> keras.Model:
    """Set a dlib_resnet backbone's (and its ``fc``'s, where the model has one) weights from a dlib ``.dat``.

    ``source``: a path or a :class:`DlibNetwork`. Every layer of the file is checked against anet_type and every
    tensor against its Keras weight before any weight is set: on any mismatch FaceKitError and the model is
    unchanged. Returns the model.
    """
    network = source if isinstance(source, DlibNetwork) else read_dlib_dat(source)
    origin = "the network" if isinstance(source, DlibNetwork) else str(source)
    by_name = _model_layers(model)
    plan = dlib_layer_plan(include_fc="fc" in by_name)
    expected_nesting = "".join("T" if kind in ("tag", "skip") else "L" for kind, _, _ in reversed(plan))
    if network.loss.type != "loss_metric":
        raise ModelError(f"{origin}: the loss is {network.loss.version}, not dlib's loss_metric")
    _check_input_layer(network, origin)
    steps = [step for step in plan if step[0] not in ("tag", "skip")]
    if len(network.layers) != len(steps):
        raise ModelError(f"{origin} holds {len(network.layers)} layers; dlib's face-recognition network "
                           f"(anet_type) has {len(steps)}")
    assignments = []
    for number, (layer, (kind, settings, name)) in enumerate(zip(network.layers, steps)):
        where = f"{origin}, layer {number} from the input ({name or kind})"
        if layer.type != kind:
            raise ModelError(f"{where}: the file has {layer.version} where dlib's face-recognition network has "
                               f"a {kind} layer")
        if kind in ("con", "max_pool", "avg_pool"):
            _check_settings(layer, kind, settings, where)
        if kind == "fc" and (layer.fields["num_outputs"], layer.fields["num_inputs"]) != \
                (settings["num_outputs"], settings["num_inputs"]):
            raise ModelError(f"{where}: fc {layer.fields['num_inputs']} -> {layer.fields['num_outputs']}, "
                               f"expected {settings['num_inputs']} -> {settings['num_outputs']}")
        if kind not in ("con", "affine", "fc"):
            continue
        arrays = _keras_arrays(layer, where)
        if name is None:  # the fc of a model without one: checked, not loaded
            continue
        if name not in by_name:
            raise ModelError(f"the model has no layer {name!r}: load_dlib_weights needs a dlib_resnet backbone")
        variables = by_name[name].weights
        shapes = [tuple(v.shape) for v in variables]
        if shapes != [a.shape for a in arrays]:
            raise ModelError(f"{where}: the file's tensors {[a.shape for a in arrays]} do not fit the model's "
                               f"{name} weights {shapes}")
        assignments += [(v, a) for v, a in zip(variables, arrays)]
    if network.nesting != expected_nesting:
        at = next((i for i, (a, b) in enumerate(zip(network.nesting, expected_nesting)) if a != b),
                  min(len(network.nesting), len(expected_nesting)))
        raise ModelError(f"{origin}: the nesting of tags and skips differs from anet_type's at wrapper {at} "
                           "from the loss")
    for variable, array in assignments:
        variable.assign(array.astype(variable.dtype))
    return model
