"""Training throughput on this machine: input pipeline, train steps at several freeze depths, cached-feature path.

    .venv/bin/python -m benchmarks.bench_training [--data ../shared/data/utkface/UTKFace] [--size 200]

Prints images/s for each; all figures come from one run, so their ratios hold even on a noisy machine.
"""
import argparse
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf

from facekit.backbones.model import build_model, get_backbone
from facekit.core.labels import AgeBins
from facekit.core.paths import shared_dir
from facekit.data.datasets import read_dataset
from facekit.data.samples import split
from facekit.infer.model_metadata import HEADS
from facekit.train.fitting import compile_model
from facekit.train.hardware import cpu_has_native_bfloat16, training_precision
from facekit.train.pipeline import Augmentation, labels_for, make_dataset

UTKFACE = shared_dir() / "data" / "utkface" / "UTKFace"


def images_per_second(ds, images, repeats=1):
    """Iterates ``ds`` once to warm up, then times ``repeats`` passes."""
    for _ in ds:
        pass
    started = time.perf_counter()
    for _ in range(repeats):
        for _ in ds:
            pass
    return images * repeats / (time.perf_counter() - started)


def train_step_rate(backbone, size, freeze, batch, steps, precision="float32"):
    with training_precision(precision):
        model = build_model(backbone, input_shape=(size, size, 3), freeze=freeze)
    compile_model(model, lr=1e-3, weight_decay=1e-4, warmup_epochs=1, epochs=1, steps_per_epoch=steps)
    x = tf.random.uniform((batch, size, size, 3), 0, 255)
    y = {name: tf.one_hot(tf.zeros(batch, tf.int32), model.get_layer(name).units) for name in HEADS}
    ds = tf.data.Dataset.from_tensors((x, y)).repeat(steps)
    model.fit(ds.take(2), verbose=0)  # trace and warm up
    started = time.perf_counter()
    model.fit(ds, verbose=0)
    return batch * steps / (time.perf_counter() - started), model


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(UTKFACE))
    parser.add_argument("--size", type=int, default=200, help="ResNet50 input side")
    parser.add_argument("--images", type=int, default=512, help="images for the pipeline measurement")
    args = parser.parse_args()
    print(f"TensorFlow {tf.__version__}, {tf.config.threading.get_inter_op_parallelism_threads() or 'auto'} "
          f"inter-op threads, devices: {[d.device_type for d in tf.config.list_physical_devices()]}")

    # A fixed subset of the training split, a little over --images (70 % of the limit lands in train).
    samples = split(read_dataset(args.data), limit=int(args.images / 0.7) + 50)["train"]
    samples = samples.subset(np.arange(min(args.images, len(samples))))
    labels = labels_for(samples, AgeBins(), 2.0)
    rows = []
    for size in (64, 96, args.size):
        plain = make_dataset(samples, labels, size, 64, training=True, augmentation=Augmentation.off())
        augmented = make_dataset(samples, labels, size, 64, training=True)
        with tempfile.TemporaryDirectory() as cache:
            cached = make_dataset(samples, labels, size, 64, training=True, cache_dir=cache)
            rate_cached = images_per_second(cached, len(samples), repeats=2)
        rows.append((f"input pipeline {size}px: decode+resize", images_per_second(plain, len(samples))))
        rows.append((f"input pipeline {size}px: decode+resize+augment", images_per_second(augmented, len(samples))))
        rows.append((f"input pipeline {size}px: disk cache+augment (epoch 2+)", rate_cached))

    for freeze in ("all", "conv4", "none"):
        rate, model = train_step_rate("vggface2_resnet50", args.size, freeze, batch=16, steps=6)
        rows.append((f"train step vggface2_resnet50 {args.size}px freeze={freeze} (batch 16)", rate))
    backbone = get_backbone(model)
    features = np.random.default_rng(0).normal(size=(4096, backbone.output_shape[-1])).astype(np.float32)
    heads_input = keras.Input(shape=features.shape[1:])
    heads = keras.Model(heads_input, {n: model.get_layer(n)(heads_input) for n in HEADS})
    compile_model(heads, lr=1e-3, weight_decay=1e-4, warmup_epochs=1, epochs=1, steps_per_epoch=64)
    y = {n: np.eye(model.get_layer(n).units, dtype=np.float32)[np.zeros(len(features), int)] for n in HEADS}
    heads.fit(features[:256], {k: v[:256] for k, v in y.items()}, batch_size=64, verbose=0)
    started = time.perf_counter()
    heads.fit(features, y, batch_size=64, verbose=0)
    rows.append(("train step, cached-feature path (heads only, batch 64)",
                 len(features) / (time.perf_counter() - started)))

    precisions = ["float32"] + (["mixed_bfloat16"] if cpu_has_native_bfloat16() else [])
    for freeze in ("none", "level1", "level2"):  # dlib's network at its own size, as the default model trained it
        for precision in precisions:
            rate, _ = train_step_rate("dlib_resnet", 150, freeze, batch=64, steps=6, precision=precision)
            rows.append((f"train step dlib_resnet 150px freeze={freeze} {precision} (batch 64)", rate))
    for name, size in (("simple_cnn", 64), ("simple_cnn", 80), ("simple_cnn", 96), ("levi_hassner", 128),
                       ("levi_hassner", 227)):
        for precision in precisions:
            rate, _ = train_step_rate(name, size, "none", batch=64, steps=8, precision=precision)
            rows.append((f"train step {name} {size}px {precision} (batch 64)", rate))

    width = max(len(r[0]) for r in rows)
    for label, rate in rows:
        print(f"{label:<{width}}  {rate:9.1f} images/s")


if __name__ == "__main__":
    main()
