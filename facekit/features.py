"""Fast path for a fully frozen backbone: compute its pooled features once, then train only the heads on them.

With ``--freeze all`` every epoch would push every image through the same fixed backbone; here each image (and
its mirror image, the one augmentation that survives) goes through it once, the features are cached on disk,
and the heads train on the cache in seconds per epoch.
"""
import hashlib
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from facekit.labels import AgeBins
from facekit.model import OUTPUTS, build_model, get_backbone
from facekit.pipeline import Augmentation, labels_for, make_dataset
from facekit.vggface_weights import VGGFACE2_SHA256, sha256_of

PROJECT_ROOT = Path(__file__).resolve().parents[1]
FEATURE_CACHE_DIR = PROJECT_ROOT / "train_data" / "features"


def _weights_identity(weights, seed):
    if weights in (None, "none"):
        return f"random-init-seed-{seed}"  # build_model after set_random_seed(seed) is deterministic
    if weights == "vggface2":
        return VGGFACE2_SHA256
    return sha256_of(weights)


def feature_cache_path(config, splits, size):
    """Keyed by the images, the backbone, its weights and the input size."""
    names = "|".join(",".join(part.paths.tolist()) for part in splits.values())
    key = "\n".join([names, config.backbone, _weights_identity(config.weights, config.seed), str(size)])
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return FEATURE_CACHE_DIR / f"{config.backbone}_{size}px_{digest}.npz"


def extract_features(backbone, samples, size, batch_size, flip=False, desc="features"):
    labels = labels_for(samples, AgeBins(), 0.0)  # make_dataset carries labels; only the images are used here
    ds = make_dataset(samples, labels, size, batch_size, training=False, augmentation=Augmentation.off())
    if flip:
        ds = ds.map(lambda x, y: (tf.image.flip_left_right(x), y))
    parts = [np.asarray(backbone.predict_on_batch(x))
             for x, _ in tqdm(ds, total=int(np.ceil(len(samples) / batch_size)), desc=desc, unit="batch")]
    return np.concatenate(parts)


def cached_features(backbone, config, splits, size, log):
    path = feature_cache_path(config, splits, size)
    if path.exists():
        log(f"using cached backbone features {path}")
        with np.load(path) as cached:
            return {k: cached[k] for k in cached.files}
    started = time.time()
    features = {name: extract_features(backbone, part, size, config.batch_size, desc=f"features {name}")
                for name, part in splits.items()}
    features["train_flip"] = extract_features(backbone, splits["train"], size, config.batch_size, flip=True,
                                              desc="features train (mirrored)")
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **features)
    log(f"computed features in {time.time() - started:.0f} s, cached at {path}")
    return features


def train_heads_on_cached_features(config, splits, paths, log):
    """Trains the heads on cached features, then saves backbone + heads as ``best.keras``."""
    from facekit.training import callbacks, compile_model  # training imports this module lazily

    size = config.resolved_input_size()
    model = build_model(config.backbone, weights=config.weights, input_shape=(size, size, 3), freeze="all")
    backbone = get_backbone(model)
    log(f"backbone fully frozen: computing its {backbone.output_shape[-1]}-d features once per image (and "
        "mirror image) and training only the heads on them (fast path; --no-feature-cache to turn it off)")
    features = cached_features(backbone, config, splits, size, log)

    bins = model.get_layer("age").age_bins
    inputs = keras.Input(shape=backbone.output_shape[1:], name="features")
    heads = keras.Model(inputs, {name: model.get_layer(name)(inputs) for name in OUTPUTS}, name="heads")
    train_labels = labels_for(splits["train"], bins, config.age_sigma)
    x_train = np.concatenate([features["train"], features["train_flip"]])
    y_train = {k: np.concatenate([v, v]) for k, v in train_labels.items()}
    val = (features["val"], labels_for(splits["val"], bins, config.age_sigma))
    steps = int(np.ceil(len(x_train) / config.batch_size))
    compile_model(heads, config, steps)
    run_dir = paths["dir"]
    heads_best = run_dir / "heads_best.weights.h5"
    head_callbacks = [cb for cb in callbacks(paths, config) if not isinstance(cb, keras.callbacks.ModelCheckpoint)]
    head_callbacks.append(keras.callbacks.ModelCheckpoint(str(heads_best), monitor="val_loss", save_best_only=True,
                                                          save_weights_only=True))
    heads.fit(x_train, y_train, validation_data=val, epochs=config.epochs, batch_size=config.batch_size,
              callbacks=head_callbacks, verbose=2)
    heads.load_weights(heads_best)  # the heads share their layers with ``model``, so it now holds them too
    model.save(run_dir / "best.keras")
