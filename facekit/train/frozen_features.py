"""Training with a fully frozen backbone: its features are computed once and cached, then only the heads train.

With ``--freeze all`` every epoch would push every image through the same fixed backbone; here each image (and
its mirror image, the one augmentation that survives) goes through it once, the features are cached on disk,
and the heads train on the cache in seconds per epoch.
"""
import hashlib
import logging
import time
import zipfile
from collections.abc import Mapping
from pathlib import Path

import keras
import numpy as np
from tqdm import tqdm

from facekit.backbones.model import age_bins_of, feature_extractor
from facekit.backbones.pretrained import sha256_of
from facekit.backbones.registry import backbone_spec
from facekit.core import paths
from facekit.core.errors import FaceKitError
from facekit.core.outputs import replacing
from facekit.data.samples import Samples
from facekit.infer.model_metadata import HEADS
from facekit.infer.predictors import predict_batches
from facekit.train.callbacks import callbacks, check_converged
from facekit.train.distillation import training_targets
from facekit.train.pipeline import image_batches, labels_for
from facekit.train.run_folder import RunFolder
from facekit.train.train_config import TrainConfig

logger = logging.getLogger(__name__)


def _weights_identity(backbone: str, weights: str | None, seed: int) -> str:
    if weights in (None, "none"):
        return f"random-init-seed-{seed}"  # build_model after set_random_seed(seed) is deterministic
    sources = backbone_spec(backbone).weights
    return sources[weights].sha256 if weights in sources else sha256_of(weights)


def feature_cache_path(config: TrainConfig, splits: Mapping[str, Samples], size: int) -> Path:
    """Keyed by the images, the backbone, its weights and the input size."""
    names = "|".join(",".join(part.paths.tolist()) for part in splits.values())
    weights = _weights_identity(config.backbone, config.weights, config.seed)
    key = "\n".join([names, config.backbone, weights, str(size)])
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return paths.feature_cache_dir() / f"{config.backbone}_{size}px_{digest}.npz"


def backbone_features(extractor: keras.Model, config: TrainConfig, splits: Mapping[str, Samples],
                      size: int) -> dict[str, np.ndarray]:
    """Train (and mirrored train) and validation features; the test split is evaluated with the full model."""
    path = feature_cache_path(config, splits, size)
    if path.exists():
        try:
            with np.load(path) as cached:
                features = {k: cached[k] for k in cached.files}
            logger.info(f"using cached backbone features {path}")
            return features
        except (OSError, ValueError, zipfile.BadZipFile):
            logger.warning(f"ignoring an unreadable feature cache {path}")
    started = time.time()
    def features_of(samples: Samples, flip: bool, desc: str) -> np.ndarray:
        batches = image_batches(samples, size, config.batch_size, flip=flip)
        return predict_batches(extractor.predict_on_batch, tqdm(batches, total=len(batches), desc=desc, unit="batch"))

    features = {"train": features_of(splits["train"], False, "features train"),
                "val": features_of(splits["val"], False, "features val"),
                "train_flip": features_of(splits["train"], True, "features train (mirrored)")}
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path) as partial:  # a run killed while writing leaves no half cache behind
        np.savez(partial, **features)
    logger.info(f"computed features in {time.time() - started:.0f} s, cached at {path}")
    return features


def train_heads_on_cached_features(model: keras.Model, config: TrainConfig, splits: Mapping[str, Samples],
                                   run: RunFolder) -> keras.Model:
    """Trains the heads of ``model`` (its backbone fully frozen) on cached features (``config``: a TrainConfig,
    ``run``: its RunFolder); returns the model, backbone and best heads."""
    if config.age_balance != "none":
        raise FaceKitError("--age-balance oversample is not available on the cached-feature path; "
                           "add --no-feature-cache to use it with --freeze all")

    size = config.resolved_input_size()
    extractor = feature_extractor(model)
    logger.info(f"backbone fully frozen: computing its {extractor.output_shape[-1]}-d features once per image (and "
        "mirror image) and training only the heads on them (fast path; --no-feature-cache to turn it off)")
    features = backbone_features(extractor, config, splits, size)

    bins = age_bins_of(model)
    inputs = keras.Input(shape=extractor.output_shape[1:], name="features")
    heads = keras.Model(inputs, {name: model.get_layer(name)(inputs) for name in HEADS}, name="heads")
    train_labels = training_targets(config, splits["train"], bins)
    x_train = np.concatenate([features["train"], features["train_flip"]])
    y_train = {k: np.concatenate([v, v]) for k, v in train_labels.items()}
    val = (features["val"], labels_for(splits["val"], bins, config.age_sigma))
    steps = int(np.ceil(len(x_train) / config.batch_size))
    config.compile(heads, steps)
    heads_best = run.dir / "heads_best.weights.h5"
    history = heads.fit(x_train, y_train, validation_data=val, epochs=config.epochs, batch_size=config.batch_size,
                        callbacks=callbacks(run, heads_best, config.patience, weights_only=True), verbose=2)
    check_converged(history, config.resolved_lr())
    heads.load_weights(heads_best)  # the heads share their layers with ``model``, so it now holds them too
    return model
