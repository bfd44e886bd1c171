"""The frozen-backbone path's feature cache (facekit/train/frozen_features.py): keyed by what the features depend on."""
from dataclasses import replace

import numpy as np

from facekit.core import paths
from facekit.data.samples import Samples
from facekit.train.frozen_features import feature_cache_path
from facekit.train.training import TrainConfig


def _splits(names):
    labels = np.zeros(len(names), np.int32)
    return {"train": Samples(np.array(names), labels, labels, labels)}


def test_the_cache_key_changes_with_the_images_weights_seed_and_size(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "PROJECT_ROOT", tmp_path)
    config = TrainConfig(data="d", run="r", backbone="simple_cnn", weights=None, freeze="all")
    path = feature_cache_path(config, _splits(["a.jpg", "b.jpg"]), 32)
    assert path.parent == paths.feature_cache_dir() and path.name.startswith("simple_cnn_32px_")
    assert feature_cache_path(config, _splits(["a.jpg", "b.jpg"]), 32) == path  # the same run finds its cache
    others = {feature_cache_path(config, _splits(["a.jpg", "c.jpg"]), 32),
              feature_cache_path(config, _splits(["a.jpg", "b.jpg"]), 48),
              feature_cache_path(replace(config, seed=config.seed + 1), _splits(["a.jpg", "b.jpg"]), 32)}
    assert path not in others and len(others) == 3
