"""An independent stand-in for keras-vggface: its ResNet50 layer names, its Keras 2 HDF5 layout, and its forward pass.

Written from keras-vggface 0.6's ``RESNET50`` (names with ``/``, conv blocks with ``_1x1_proj`` shortcuts), not
from facekit, so that a test comparing the two can fail.
"""
import h5py
import numpy as np
import tensorflow as tf

BLOCKS = ((2, (64, 64, 256), 3), (3, (128, 128, 512), 4), (4, (256, 256, 1024), 6), (5, (512, 512, 2048), 3))


def conv_layers():
    """(conv name, kernel size, in channels, out channels, stride) in keras-vggface's order."""
    convs = [("conv1/7x7_s2", 7, 3, 64, 2)]
    channels = 64
    for stage, (f1, f2, f3), blocks in BLOCKS:
        for block in range(1, blocks + 1):
            stride = 2 if block == 1 and stage > 2 else 1
            prefix = f"conv{stage}_{block}"
            convs += [(f"{prefix}_1x1_reduce", 1, channels, f1, stride), (f"{prefix}_3x3", 3, f1, f2, 1),
                      (f"{prefix}_1x1_increase", 1, f2, f3, 1)]
            if block == 1:
                convs.append((f"{prefix}_1x1_proj", 1, channels, f3, stride))
            channels = f3
    return convs


def random_weights(seed=0, classifier=False):
    """{layer name: [(weight name, array)]} as keras-vggface names them, random but well scaled."""
    rng = np.random.default_rng(seed)
    layers = {}
    for name, k, c_in, c_out, _ in conv_layers():
        kernel = rng.normal(0, np.sqrt(2.0 / (k * k * c_in)), (k, k, c_in, c_out)).astype(np.float32)
        layers[name] = [(f"{name}/kernel:0", kernel)]
        bn = f"{name}/bn"
        layers[bn] = [(f"{bn}/gamma:0", rng.uniform(0.5, 1.0, c_out).astype(np.float32)),
                      (f"{bn}/beta:0", rng.normal(0, 0.1, c_out).astype(np.float32)),
                      (f"{bn}/moving_mean:0", rng.normal(0, 0.1, c_out).astype(np.float32)),
                      (f"{bn}/moving_variance:0", rng.uniform(0.5, 1.5, c_out).astype(np.float32))]
    if classifier:
        layers["classifier"] = [("classifier/kernel:0", rng.normal(0, 0.01, (2048, 16)).astype(np.float32)),
                                ("classifier/bias:0", np.zeros(16, np.float32))]
    return layers


def write_h5(path, layers, extra_empty=("activation_1", "max_pooling2d_1", "add_1", "avg_pool")):
    """Writes ``layers`` the way Keras 2's ``save_weights`` did, weightless layers included."""
    with h5py.File(path, "w") as f:
        names = list(extra_empty[:2]) + list(layers) + list(extra_empty[2:])
        f.attrs["layer_names"] = np.array([n.encode() for n in names])
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.1.5"
        for name in names:
            group = f.create_group(name)  # "conv1/7x7_s2" becomes nested groups
            weights = layers.get(name, [])
            group.attrs["weight_names"] = np.array([w.encode() for w, _ in weights], dtype="S")
            for weight_name, array in weights:
                group.create_dataset(weight_name, data=array)


def forward(layers, images):
    """keras-vggface's ResNet50 (include_top=False, pooling='avg') in plain tf.nn ops, from the weights dict."""
    w = {name: dict((wn.rsplit("/", 1)[-1].split(":")[0], a) for wn, a in ws) for name, ws in layers.items()}

    def conv_bn(x, name, stride, relu):
        x = tf.nn.conv2d(x, w[name]["kernel"], stride, "SAME")
        bn = w[f"{name}/bn"]
        x = tf.nn.batch_normalization(x, bn["moving_mean"], bn["moving_variance"], bn["beta"], bn["gamma"], 1e-3)
        return tf.nn.relu(x) if relu else x

    x = conv_bn(tf.constant(images, tf.float32), "conv1/7x7_s2", 2, True)
    x = tf.nn.max_pool2d(x, 3, 2, "VALID")
    for stage, _, blocks in BLOCKS:
        for block in range(1, blocks + 1):
            stride = 2 if block == 1 and stage > 2 else 1
            p = f"conv{stage}_{block}"
            y = conv_bn(x, f"{p}_1x1_reduce", stride, True)
            y = conv_bn(y, f"{p}_3x3", 1, True)
            y = conv_bn(y, f"{p}_1x1_increase", 1, False)
            shortcut = conv_bn(x, f"{p}_1x1_proj", stride, False) if block == 1 else x
            x = tf.nn.relu(y + shortcut)
    x = tf.nn.avg_pool2d(x, 7, 7, "VALID")
    return tf.reduce_mean(x, axis=(1, 2)).numpy()
