"""tf.data input pipeline: stream, decode, resize, augment, batch, mixup, prefetch.

Images are read from disk as they are needed, never all held in memory, by ``images.read_image``, the reader the
demos use (EXIF orientation, grayscale, transparency): training sees a photo as the demos do. Optionally the
decoded, resized images go to a cache file on disk after the first epoch: decoding JPEGs costs about as much CPU
as training a compact CNN on them.
"""
import hashlib
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from facekit.core.labels import GENDERS, AgeBins, race_label_masks
from facekit.data.samples import MISSING, Samples, require_some_label
from facekit.vision.images import read_image

AUTOTUNE = tf.data.AUTOTUNE


@dataclass(frozen=True)
class Augmentation:
    """Training-time augmentation; ``Augmentation.off()`` disables all of it."""

    flip: bool = True
    rotation: float = 10.0  # degrees, uniform in +-
    scale: float = 0.08  # relative zoom, uniform in +-
    shift: float = 0.05  # fraction of the side, uniform in +-
    brightness: float = 0.15  # fraction of 255
    contrast: float = 0.2  # relative
    erase: float = 0.25  # probability of erasing one random rectangle
    mixup: float = 0.2  # Beta(alpha, alpha) mixing of image pairs and their labels; 0 disables

    @classmethod
    def off(cls) -> "Augmentation":
        return cls(flip=False, rotation=0.0, scale=0.0, shift=0.0, brightness=0.0, contrast=0.0, erase=0.0,
                   mixup=0.0)


def labels_for(samples: Samples, age_bins: AgeBins, age_sigma: float) -> dict[str, np.ndarray]:
    """Target arrays (``facekit.train.losses`` says how each head reads them; soft targets survive mixup): age,
    (N, 2 x bins): an exact age's distribution over the bins, then an age interval's 0/1 mask of its bins; gender
    one-hot; race a 0/1 mask over the race classes (one class, or the set a coarser label stands for).

    A label the image lacks (MISSING) is a row of zeros: its head's loss is 0 for that image (masked) and the
    metrics of ``facekit.train.metrics`` skip it. Stops in one line when no image has any label."""
    require_some_label(samples, "training")
    exact = _zero_where_missing(age_bins.soft_labels(np.maximum(samples.ages, 0), sigma=age_sigma), samples.ages)
    return {
        "age": np.concatenate([exact, age_bins.interval_masks(samples.intervals)], axis=1),
        "gender": _zero_where_missing(np.eye(len(GENDERS), dtype=np.float32)[samples.genders], samples.genders),
        "race": _zero_where_missing(race_label_masks()[samples.races], samples.races),
    }


def _zero_where_missing(targets: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return np.where((labels == MISSING)[:, None], 0.0, targets).astype(np.float32)


def decode_resize(path: tf.Tensor, size: int) -> tf.Tensor:
    """File -> float32 RGB in [0, 255] at ``size`` x ``size``, read by ``images.read_image``."""
    image = tf.numpy_function(lambda name: read_image(os.fsdecode(np.asarray(name).item())), [path], tf.uint8,
                              stateful=False)
    image.set_shape([None, None, 3])
    image = tf.image.resize(tf.cast(image, tf.float32), (size, size), antialias=True)
    return tf.clip_by_value(image, 0.0, 255.0)


def _decoded(ds: tf.data.Dataset, size: int) -> tf.data.Dataset:
    """(path, ...) elements -> (uint8 image at size x size, ...): what the disk cache holds."""
    return ds.map(lambda path, *rest: (tf.cast(tf.round(decode_resize(path, size)), tf.uint8), *rest),
                  num_parallel_calls=AUTOTUNE)


def _affine(images: tf.Tensor, aug: Augmentation, size: int) -> tf.Tensor:
    """A random rotation + zoom + shift about the centre per image, as one batched projective warp."""
    batch = tf.shape(images)[0]
    angle = tf.random.uniform([batch], -aug.rotation, aug.rotation) * math.pi / 180
    zoom = 1.0 + tf.random.uniform([batch], -aug.scale, aug.scale)
    dx = tf.random.uniform([batch], -aug.shift, aug.shift) * size
    dy = tf.random.uniform([batch], -aug.shift, aug.shift) * size
    c = (size - 1) / 2.0
    # Output pixel (x, y) samples input at A @ (x, y) + b: the inverse of rotate-then-zoom about the centre.
    cos, sin = tf.cos(angle) / zoom, tf.sin(angle) / zoom
    a0, a1, b0, b1 = cos, -sin, sin, cos
    tx = c - a0 * (c + dx) - a1 * (c + dy)
    ty = c - b0 * (c + dx) - b1 * (c + dy)
    zeros = tf.zeros([batch])
    transforms = tf.stack([a0, a1, tx, b0, b1, ty, zeros, zeros], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=transforms, output_shape=[size, size], fill_value=0.0,
        interpolation="BILINEAR", fill_mode="REFLECT")


def _erase(images: tf.Tensor, probability: float, size: int) -> tf.Tensor:
    """Random erasing: with ``probability``, one rectangle (2-25 % of the area) per image filled with noise."""
    batch = tf.shape(images)[0]
    area = tf.random.uniform([batch], 0.02, 0.25) * size * size
    ratio = tf.exp(tf.random.uniform([batch], math.log(0.3), math.log(3.3)))
    h = tf.clip_by_value(tf.sqrt(area * ratio), 1.0, size)
    w = tf.clip_by_value(tf.sqrt(area / ratio), 1.0, size)
    y = tf.random.uniform([batch]) * (size - h)
    x = tf.random.uniform([batch]) * (size - w)
    grid = tf.range(size, dtype=tf.float32)
    rows = (grid[None] >= y[:, None]) & (grid[None] < (y + h)[:, None])  # (batch, size)
    cols = (grid[None] >= x[:, None]) & (grid[None] < (x + w)[:, None])
    chosen = tf.random.uniform([batch]) < probability
    mask = rows[:, :, None] & cols[:, None, :] & chosen[:, None, None]
    return tf.where(mask[..., None], tf.random.uniform(tf.shape(images), 0, 255), images)


def augment(images: tf.Tensor, aug: Augmentation, size: int) -> tf.Tensor:
    """Augments a batch ``(N, size, size, 3)``, each image with its own random draw.

    Batched: one warp per batch costs far less than one per image, which matters when augmentation and
    training share two CPU cores.
    """
    batch = tf.shape(images)[0]

    def per_image(values: tf.Tensor) -> tf.Tensor:
        return tf.reshape(values, [-1, 1, 1, 1])

    if aug.flip:
        flipped = tf.random.uniform([batch]) < 0.5
        images = tf.where(per_image(flipped), tf.reverse(images, axis=[2]), images)
    if aug.rotation or aug.scale or aug.shift:
        images = _affine(images, aug, size)
    if aug.brightness:
        images = images + per_image(tf.random.uniform([batch], -aug.brightness, aug.brightness) * 255)
    if aug.contrast:
        mean = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
        images = (images - mean) * per_image(tf.random.uniform([batch], 1 - aug.contrast, 1 + aug.contrast)) + mean
    if aug.erase:
        images = _erase(images, aug.erase, size)
    return tf.clip_by_value(images, 0.0, 255.0)


def _mixup(images: tf.Tensor, labels: dict[str, tf.Tensor], alpha: float
           ) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """Mixes each image with another of the batch, and its labels in the same proportion."""
    batch = tf.shape(images)[0]
    g1 = tf.random.gamma([batch], alpha)
    g2 = tf.random.gamma([batch], alpha)
    lam = g1 / (g1 + g2)
    partner = tf.random.shuffle(tf.range(batch))

    def mix(a: tf.Tensor, weight_shape: list[int]) -> tf.Tensor:
        return tf.reshape(lam, weight_shape) * a + (1 - tf.reshape(lam, weight_shape)) * tf.gather(a, partner)

    images = mix(images, [-1, 1, 1, 1])
    labels = {k: mix(v, [-1, 1]) for k, v in labels.items()}
    return images, labels


def cache_file(cache_dir: str | Path, samples: Samples, input_size: int,
               labels: Mapping[str, np.ndarray] | None = None) -> str:
    """A cache path fixed by everything the cache holds: the images (paths in order, each file's size and
    modification time), the targets stored with them (``labels``), the size and the reader (no augmentation goes
    into it). A changed split, a relabelled CSV or a replaced image never reads a stale cache."""
    digest = hashlib.sha256(f"{input_size}|read_image|uint8 resize antialias|".encode())
    add_files(digest, samples.paths.tolist())
    labels = labels or {}
    for head in sorted(labels):
        values = np.ascontiguousarray(labels[head])
        digest.update(f"{head}|{values.dtype}|{values.shape}|".encode())
        digest.update(values.tobytes())
    key = digest.hexdigest()[:16]
    path = Path(cache_dir) / f"images_{input_size}px_{len(samples)}_{key}"
    if list(path.parent.glob(path.name + "*.lockfile")):  # left by an interrupted first epoch: incomplete
        for stale in path.parent.glob(path.name + "*"):
            stale.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    return str(path)


def add_files(digest: Any, names: Iterable[str]) -> None:
    """Adds each file's name, size and modification time to ``digest``: a replaced image changes the key."""
    for name in names:
        try:
            stat = os.stat(name)
            digest.update(f"{name}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
        except OSError:  # unreadable: skipped in training (ignore_errors); its name still counts
            digest.update(f"{name}|-\n".encode())


def make_dataset(samples: Samples, labels: Mapping[str, np.ndarray], input_size: int, batch_size: int, training: bool,
                 augmentation: Augmentation = Augmentation(), seed: int | None = None,
                 cache_dir: str | Path | None = None, shuffle_buffer: int = 4096) -> tf.data.Dataset:
    """Batches of ``(images, {"age", "gender", "race"})``, streamed from disk: float32 RGB 0-255, as models take
    them."""
    if training:  # one fixed random order (file names sort by age), then a bounded shuffle on top
        order = np.random.default_rng(seed).permutation(len(samples))
        samples, labels = samples.subset(order), {k: v[order] for k, v in labels.items()}
    ds = _decoded(tf.data.Dataset.from_tensor_slices((samples.paths, labels)), input_size)
    if training:  # an image whose body is corrupt (its header passed the dataset reader) must not end a run
        ds = ds.ignore_errors(log_warning=True)
    if cache_dir is not None:
        ds = ds.cache(cache_file(cache_dir, samples, input_size, labels))
    if training:
        ds = ds.shuffle(min(len(samples), shuffle_buffer), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=False).map(lambda x, y: (tf.cast(x, tf.float32), y))
    if training and augmentation != Augmentation.off():
        ds = ds.map(lambda x, y: (augment(x, augmentation, input_size), y), num_parallel_calls=AUTOTUNE,
                    deterministic=False)
    if training and augmentation.mixup > 0:
        ds = ds.map(lambda x, y: _mixup(x, y, augmentation.mixup), num_parallel_calls=AUTOTUNE)
    return ds.prefetch(AUTOTUNE)


def image_batches(samples: Samples, input_size: int, batch_size: int, flip: bool = False) -> tf.data.Dataset:
    """Batches of the samples' images in order (float32 RGB 0-255, no labels, no augmentation), for prediction;
    ``flip``: mirrored."""
    ds = _decoded(tf.data.Dataset.from_tensor_slices((samples.paths,)), input_size)
    ds = ds.batch(batch_size).map(lambda x: tf.cast(x, tf.float32))
    if flip:
        ds = ds.map(tf.image.flip_left_right)
    return ds.prefetch(AUTOTUNE)
