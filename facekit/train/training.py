"""A training run: its settings (``TrainConfig``), data and split, the model, fit (or the frozen-backbone fast path),
resume, the float32 checkpoint, the final evaluation on the test split, and what the run did (``RunRecord``)."""
import contextlib
import json
import logging
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import keras
import numpy as np

from facekit.backbones.model import age_bins_of, build_model, load_model, trainable_summary
from facekit.backbones.registry import backbone_spec, input_shape_for
from facekit.core import paths
from facekit.core.errors import FaceKitError
from facekit.core.labels import RACES, UTKFACE_RACE_LABELS, UTKFACE_RACES, race_classes, race_label_masks
from facekit.core.outputs import replacing, write_text
from facekit.data.datasets import read_dataset
from facekit.data.samples import Samples, describe_weights, fold_split, resample_index, sampling_weights
from facekit.data.sources import check_sources, read_splits
from facekit.infer.scoring import evaluate
from facekit.train import multi_worker
from facekit.train.callbacks import callbacks, check_converged
from facekit.train.distillation import check_teachers, training_targets
from facekit.train.frozen_features import train_heads_on_cached_features
from facekit.train.hardware import distribution_strategy, training_precision
from facekit.train.pipeline import Augmentation, labels_for, make_dataset
from facekit.train.run_folder import RunFolder
from facekit.train.train_config import TrainConfig

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunRecord:
    """What ``train`` did, for the caller: the run's folder and float32 checkpoint, its test metrics (as
    metrics.json), the epochs its history holds and this call's seconds. On a worker of a cluster that is not its
    chief, ``best`` and ``metrics`` are None: the chief writes and evaluates."""

    run: str
    folder: Path
    best: Path | None
    metrics: dict[str, Any] | None
    epochs: int  # the epochs history.csv records, a resumed run's earlier ones included
    seconds: float  # this call's wall time: reading the data, training and the evaluation
    sources: tuple[dict[str, Any], ...] = ()  # each source as read: path, file count, label-file hash


def save_for_inference(model: keras.Model, config: TrainConfig, path: Path) -> keras.Model:
    """Saves ``model`` as float32 (training may run in mixed precision), without optimizer state, atomically."""
    clean = build_model(config.backbone, input_shape=model.input_shape[1:], freeze=config.freeze,
                        age_bins=age_bins_of(model))
    clean.set_weights(model.get_weights())
    try:
        with replacing(path) as partial:  # never a half-written best.keras
            clean.save(partial)
    except OSError as error:
        raise FaceKitError(f"cannot write {path}: {error.strerror or error}") from error
    return clean


def resume(run: str, epochs: int | None = None) -> RunRecord:
    """Continues an interrupted run with its saved settings (``epochs`` may raise or lower its epoch count)."""
    folder = RunFolder.named(run)
    folder.check(resume=True)  # nothing to resume, or a finished run: refused before its settings are read
    config_file = folder.config
    try:
        config = TrainConfig(**json.loads(config_file.read_text()))
    except (ValueError, TypeError) as error:
        raise FaceKitError(f"cannot resume from {config_file}: {error}") from error
    if epochs is not None:
        config = replace(config, epochs=epochs)
    logger.info(f"resuming run '{run}' with its saved settings ({config.epochs} epochs)")
    return train(config, resume=True)


def train(config: TrainConfig, resume: bool = False) -> RunRecord:
    """Trains, keeps the best checkpoint, evaluates it on the test split; returns the ``RunRecord``. ``config`` is
    left as it was: the sources as read are recorded in the run's config.json and the record.

    The model is built first: an invalid --freeze or --weights, or weights that cannot be fetched, stop the run
    before its data is read, and its folder is made only once the data is read too."""
    started = time.monotonic()
    worker = multi_worker.worker()
    if worker is not None:
        if on_feature_cache(config):
            raise FaceKitError("--freeze all trains its heads on cached features on one machine; add "
                               "--no-feature-cache to train on several")
        distribution_strategy()  # joins the cluster before TensorFlow runs anything else
        logger.info(f"training as the {worker.name} of {worker.count} workers (TF_CONFIG)")
    run = RunFolder.named(config.run)
    run.check(resume)
    size = config.resolved_input_size()
    input_shape_for(backbone_spec(config.backbone), (size, size, 3))  # a size too small stops before the data is read
    if config.init and not Path(config.init).is_file():
        raise FaceKitError(f"--init model not found: {config.init}")
    if config.init and on_feature_cache(config):
        raise FaceKitError("--init is for fine-tuning: with --freeze all the heads train on cached features of the "
                           "backbone's own weights (add --no-feature-cache to start them from --init)")
    if config.teachers:
        check_teachers(config.teachers, config.teacher_tta)
    check_sources(config.sources(), **config.data_options())  # checked now, read after the model is built
    if config.test_fold is not None and len(config.sources()) > 1:
        raise FaceKitError("a held-out fold (Adience's protocol) is for one --data source")
    if resume and run.best.exists() and not on_feature_cache(config):
        load_model(run.best)  # a damaged checkpoint is named now, not after the remaining epochs
    keras.utils.set_random_seed(config.seed)
    with contextlib.ExitStack() as scope:
        if not on_feature_cache(config):  # the cached-feature path trains its heads in float32 on one device
            scope.enter_context(training_precision(config.precision))
            scope.enter_context(distribution_strategy().scope())
        model = build_model(config.backbone, weights=config.weights, input_shape=(size, size, 3),
                            freeze=config.freeze)
        splits, sources_read, split_names = _read_splits(config)
        run.dir.mkdir(parents=True, exist_ok=True)
        if worker is None or worker.chief:  # the others share the folder (facekit.train.multi_worker)
            write_text(run.config, json.dumps(asdict(replace(config, sources_read=sources_read)), indent=2))
            write_text(run.split, json.dumps(split_names, indent=0))
        if on_feature_cache(config):
            best = train_heads_on_cached_features(model, config, splits, run)
        else:
            if config.init:
                start_from(model, config.init)
            _fit(model, config, splits, run, size, worker)
            best = None
    if worker is not None and not worker.chief:
        logger.info(f"{worker.name} finished; the chief writes {run.best} and evaluates it")
        return RunRecord(config.run, run.dir, None, None, run.epochs_trained(), time.monotonic() - started,
                         tuple(sources_read))
    if best is None:
        if not run.best.exists():
            raise FaceKitError(f"no checkpoint was written to {run.best}: the validation loss never improved "
                               f"(see {run.history})")
        best = load_model(run.best)
    best = save_for_inference(best, config, run.best)
    logger.info(f"evaluating the best checkpoint on the test split ({len(splits['test'])} images)")
    metrics = evaluate(best, splits["test"], run.metrics, data=[s.data for s in config.sources()], limit=config.limit,
                       source_names=[s.name for s in config.sources()])
    logger.info(json.dumps({k: v for k, v in metrics.items() if not isinstance(v, dict)}))
    logger.info(f"wrote {run.best}, {run.metrics} and plots; TensorBoard: tensorboard --logdir {run.logs.parent}")
    return RunRecord(config.run, run.dir, run.best, metrics, run.epochs_trained(), time.monotonic() - started,
                     tuple(sources_read))


def on_feature_cache(config: TrainConfig) -> bool:
    """Whether the run takes the frozen-backbone fast path (facekit.train.frozen_features)."""
    return config.freeze == "all" and config.feature_cache


def _read_splits(config: TrainConfig) -> tuple[dict[str, Samples], list[dict[str, Any]], dict[str, list[str]]]:
    """(splits, the sources' records, {split: names}): per source by file name, or Adience's held-out fold."""
    if config.test_fold is None:
        splits, records, names = read_splits(config.sources(), limit=config.limit, **config.data_options())
    else:
        if config.limit is not None:
            raise FaceKitError("--limit does not go with a held-out fold")
        source = config.sources()[0]
        splits = fold_split(read_dataset(source.data, **config.data_options()), config.test_fold)
        records, names = [{"data": source.data, "name": source.name}], {k: v.names for k, v in splits.items()}
    logger.info("split: " + ", ".join(f"{k} {len(v)}" for k, v in splits.items())
        + (" (fixed by file name)" if config.test_fold is None else f" (fold {config.test_fold} held out)"))
    total = sum(len(part) for part in splits.values())
    for name, part in splits.items():
        if len(part) == 0:
            raise FaceKitError(f"the {name} split is empty; {_too_few(config, total)}")
    return splits, records, names


def _too_few(config: TrainConfig, total: int) -> str:
    """Why a split came out empty (``total``: the images of all splits), and what to change."""
    if config.test_fold is not None:
        return f"fold {config.test_fold} held out of {total} images leaves it none"
    if config.limit is not None and config.limit <= total:
        return f"use more images (--limit {config.limit} is too small)"
    data = ", ".join(source.data for source in config.sources())
    return f"{data} has {total} usable image(s): the fixed split needs a few dozen"


def start_from(model: keras.Model, path: str | Path) -> None:
    """Copies every weight of the trained model at ``path`` into ``model`` (same backbone, input size and bins).

    Heads trained first on a frozen backbone, then the whole network fine-tuned from there (linear probing, then
    fine-tuning), spares the pretrained features the large gradients of randomly initialised heads.
    """
    trained = load_model(path)
    if trained.name != model.name or trained.input_shape != model.input_shape:
        raise FaceKitError(f"--init {path} is a {trained.name} model with input {trained.input_shape[1:3]}; this run "
                           f"builds a {model.name} model with input {model.input_shape[1:3]}")
    race_widened = seven_race_head(trained, model)
    for mine, theirs in zip(model.layers, trained.layers):
        if mine.name == "race" and race_widened is not None:
            mine.set_weights(race_widened)
        elif [w.shape for w in mine.weights] != [w.shape for w in theirs.weights]:
            raise FaceKitError(f"--init {path}: its layer {theirs.name} does not fit this run's model (same backbone, "
                               "input size and age bins needed)")
        else:
            mine.set_weights(theirs.get_weights())
    logger.info(f"starting from the weights of {path}"
                + (" (its five-class race head spread over the seven classes)" if race_widened is not None else ""))


def seven_race_head(trained: keras.Model, model: keras.Model) -> list[np.ndarray] | None:
    """The race head's weights for ``model`` (seven classes) from a model trained before FairFace (UTKFace's five),
    None when both have the same classes: each of the seven starts as the UTKFace class it belongs to (East and
    Southeast Asian as Asian, Middle Eastern and Latino_Hispanic as Others), a set's classes sharing its
    probability (log 2 off each bias), so the widened model predicts UTKFace's classes as the trained one did."""
    old, new = trained.get_layer("race"), model.get_layer("race")
    if old.units == new.units:
        return None
    if (race_classes(old.units), race_classes(new.units)) != (UTKFACE_RACES, RACES):
        raise FaceKitError(f"--init: a race head of {old.units} classes cannot start one of {new.units}")
    kernel, bias = old.get_weights()
    masks = race_label_masks()[list(UTKFACE_RACE_LABELS)]  # (5, 7): the classes of each UTKFace class
    source = masks.argmax(axis=0)  # each of the seven: its UTKFace class
    share = np.log(masks.sum(axis=1))[source]  # log of how many classes share it
    return [kernel[:, source], bias[source] - share]


def _fit(model: keras.Model, config: TrainConfig, splits: dict[str, Samples], run: RunFolder, size: int,
         worker: multi_worker.Worker | None = None) -> None:
    """Fits ``model`` (built in the run's precision and distribution scope) on the training split; ``worker``: this
    process's place in a cluster (facekit.train.multi_worker), None on one machine."""
    aug = Augmentation(**config.augmentation)
    sources = config.sources()
    weights = sampling_weights(splits["train"], config.age_balance, [s.weight for s in sources])
    epoch = resample_index(weights, seed=config.seed)
    train_samples = splits["train"].subset(epoch)
    if config.age_balance != "none" or len(sources) > 1:
        logger.info(f"sampling (--age-balance {config.age_balance}, --source-weight "
            f"{' '.join(f'{s.weight:g}' for s in sources)}): {len(splits['train'])} -> {len(train_samples)} training "
            f"images per epoch\n" + describe_weights(splits["train"], weights, [s.name for s in sources]))
    bins = age_bins_of(model)
    steps = int(np.ceil(len(train_samples) / config.batch_size))
    config.compile(model, steps_per_epoch=steps)
    logger.info(trainable_summary(model))
    logger.info(f"input {size}x{size}, batch {config.batch_size}, {config.epochs} epochs, lr {config.resolved_lr():g}, "
        f"augmentation {'on' if aug != Augmentation.off() else 'off'}")
    cache = paths.image_cache_dir()
    if worker is not None and not worker.chief:  # workers on one machine would share the chief's cache files
        cache = cache / worker.name
    targets = training_targets(config, splits["train"], bins)  # per image once, then drawn as the images are
    train_ds = make_dataset(train_samples, {head: values[epoch] for head, values in targets.items()}, size,
                            config.batch_size, training=True, augmentation=aug, seed=config.seed,
                            cache_dir=cache)
    val_ds = make_dataset(splits["val"], labels_for(splits["val"], bins, config.age_sigma), size,
                          config.batch_size, training=False, cache_dir=cache)
    if worker is not None:
        multi_worker.prepare(model)
        train_ds, val_ds = multi_worker.sharded(train_ds), multi_worker.whole(val_ds)
    started = time.time()
    # Repeated, with the steps of one pass: a pass that skipped a corrupt image (its length unknown in advance)
    # neither ends an epoch early nor makes Keras warn that the input ran out of data. The dataset shuffles itself.
    history = model.fit(train_ds.repeat(), steps_per_epoch=steps, shuffle=False, validation_data=val_ds,
                        epochs=config.epochs,
                        callbacks=callbacks(run, run.best, config.patience, worker=worker, ema=config.ema),
                        verbose=1 if sys.stdout.isatty() else 2)
    logger.info(f"training took {time.time() - started:.0f} s")
    check_converged(history, config.resolved_lr())
