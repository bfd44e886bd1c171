"""A training run: data, split, model, callbacks, fit, resume, and the final evaluation on the test split."""
import csv
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from facekit import paths
from facekit.backbones import backbone_spec
from facekit.data import save_split, split
from facekit.datasets import read_dataset
from facekit.errors import FaceKitError
from facekit.evaluation import evaluate
from facekit.labels import age_decade
from facekit.model import age_bins_of, build_model, load_model, trainable_summary
from facekit.pipeline import Augmentation, labels_for, make_dataset



@dataclass
class TrainConfig:
    data: str
    run: str
    backbone: str = "vggface2_resnet50"
    weights: str | None = "vggface2"
    freeze: str = "none"
    input_size: int | None = None  # None: the backbone's natural size
    epochs: int = 30
    batch_size: int = 32
    limit: int | None = None
    lr: float | None = None  # None: 1e-3 from scratch, 1e-4 on pretrained weights
    weight_decay: float = 1e-4
    warmup_epochs: float = 1.0
    age_sigma: float = 2.0  # Gaussian age targets (years); 0 for one-hot
    age_balance: str = "none"  # or "oversample": repeat rare age decades
    augmentation: dict = field(default_factory=lambda: asdict(Augmentation()))
    patience: int = 8
    seed: int = 1
    feature_cache: bool = True  # with freeze=all, train the heads on cached backbone features
    precision: str = "auto"  # see choose_precision

    def resolved_input_size(self):
        return self.input_size or backbone_spec(self.backbone).input_size

    def resolved_lr(self):
        if self.lr is not None:
            return self.lr
        return 1e-3 if self.weights in (None, "none") else 1e-4


@keras.saving.register_keras_serializable(package="facekit")
class AgeMAE(keras.metrics.MeanMetricWrapper):
    """Mean absolute difference, in years, between the expected ages of the target and predicted distributions."""

    def __init__(self, centres, name="mae", dtype=None):
        self.centres = [float(c) for c in centres]
        weights = tf.constant(self.centres, tf.float32)[:, None]
        super().__init__(lambda y_true, y_pred: tf.abs(tf.matmul(tf.cast(y_true, tf.float32), weights)
                                                       - tf.matmul(tf.cast(y_pred, tf.float32), weights))[:, 0],
                         name=name, dtype=dtype)

    def get_config(self):
        return {"centres": self.centres, "name": self.name, "dtype": self.dtype}


def run_paths(run):
    return {"dir": paths.face_weights_dir() / run, "logs": paths.logs_dir() / run}


def check_run_folder(run_dir, resume):
    """Refuses to reuse a run that holds a checkpoint, unless resuming; refuses to resume a finished run."""
    existing = [p.name for p in (run_dir / "best.keras", run_dir / "backup") if p.exists()]
    if existing and not resume:
        raise FaceKitError(f"run '{run_dir.name}' already has {', '.join(existing)} in {run_dir}; "
                           "pass --resume to continue it, or choose another --run name")
    if resume and not (run_dir / "config.json").exists():
        raise FaceKitError(f"nothing to resume: {run_dir / 'config.json'} does not exist")
    if resume and (run_dir / "metrics.json").exists() and not (run_dir / "backup").exists():
        raise FaceKitError(f"run '{run_dir.name}' has finished (see {run_dir / 'metrics.json'}); "
                           "start a new run to train more")


def best_val_loss(run_dir):
    """The best validation loss a resumed run has already reached, so its checkpoint is not replaced by a worse one."""
    history = run_dir / "history.csv"
    if not history.exists():
        return None
    with open(history) as f:
        losses = [float(row["val_loss"]) for row in csv.DictReader(f) if row.get("val_loss")]
    return min(losses) if losses else None


def oversample_rare_ages(samples):
    """Repeats images of rare age decades (up to 4x, by the square root of their rarity)."""
    decades = age_decade(samples.ages)
    counts = np.bincount(decades, minlength=10)
    repeats = np.clip(np.round(np.sqrt(counts.max() / np.maximum(counts, 1))), 1, 4).astype(int)
    return samples.subset(np.repeat(np.arange(len(samples)), repeats[decades]))


PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")


def cpu_has_native_bfloat16():
    """True on CPUs with bfloat16 instructions (AVX512-BF16 or AMX), where oneDNN runs bf16 convolutions fast."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:  # not Linux: stay in float32
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def choose_precision(precision, gpus):
    """``auto``: float16 mixed precision on a GPU, bfloat16 on a CPU that has it natively, else float32."""
    if precision != "auto":
        return precision
    if gpus:
        return "mixed_float16"
    return "mixed_bfloat16" if cpu_has_native_bfloat16() else "float32"


def distribution_strategy(precision, log):
    """MirroredStrategy over several GPUs, the default strategy otherwise; sets the Keras dtype policy."""
    gpus = tf.config.list_physical_devices("GPU")
    policy = choose_precision(precision, gpus)
    keras.mixed_precision.set_global_policy(policy)
    where = f"{len(gpus)} GPU(s)" if gpus else "the CPU"
    log(f"training on {where}, precision {policy} (heads and losses stay float32)")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def compile_model(model, config, steps_per_epoch):
    bins = age_bins_of(model)
    total = max(1, config.epochs * steps_per_epoch)
    warmup = min(int(config.warmup_epochs * steps_per_epoch), total - 1)
    lr = config.resolved_lr()
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=lr / 10 if warmup else lr, decay_steps=total - warmup, alpha=0.01,
        warmup_target=lr if warmup else None, warmup_steps=warmup)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule, weight_decay=config.weight_decay),
        loss={"age": "categorical_crossentropy", "gender": "categorical_crossentropy",
              "race": "categorical_crossentropy"},
        metrics={"age": [AgeMAE(bins.centres)], "gender": ["accuracy"], "race": ["accuracy"]})


def callbacks(run_dirs, config, checkpoint, weights_only=False):
    run_dir = run_dirs["dir"]
    return [
        keras.callbacks.BackupAndRestore(str(run_dir / "backup")),  # resume after an interruption
        keras.callbacks.ModelCheckpoint(str(checkpoint), monitor="val_loss", save_best_only=True,
                                        save_weights_only=weights_only,
                                        initial_value_threshold=best_val_loss(run_dir)),
        keras.callbacks.TensorBoard(str(run_dirs["logs"])),
        keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=True),
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.patience),
    ]


def save_for_inference(model, config, path):
    """Saves ``model`` as float32 (training may run in mixed precision), without optimizer state, atomically."""
    keras.mixed_precision.set_global_policy("float32")
    clean = build_model(config.backbone, input_shape=model.input_shape[1:], freeze=config.freeze,
                        age_bins=age_bins_of(model))
    clean.set_weights(model.get_weights())
    partial = path.with_name(path.stem + ".partial.keras")
    clean.save(partial)
    os.replace(partial, path)  # never a half-written best.keras
    return clean


def resume(run, epochs=None, log=print):
    """Continues an interrupted run with its saved settings (``epochs`` may raise or lower its epoch count)."""
    config_file = run_paths(run)["dir"] / "config.json"
    if not config_file.exists():
        raise FaceKitError(f"nothing to resume: {config_file} does not exist")
    try:
        config = TrainConfig(**json.loads(config_file.read_text()))
    except (ValueError, TypeError) as error:
        raise FaceKitError(f"cannot resume from {config_file}: {error}") from None
    if epochs is not None:
        config = replace(config, epochs=epochs)
    log(f"resuming run '{run}' with its saved settings ({config.epochs} epochs)")
    return train(config, resume=True, log=log)


def train(config, resume=False, log=print):
    """Trains, keeps the best checkpoint, evaluates it on the test split; returns the test metrics."""
    run_dirs = run_paths(config.run)
    run_dir = run_dirs["dir"]
    check_run_folder(run_dir, resume)
    keras.utils.set_random_seed(config.seed)
    size = config.resolved_input_size()
    samples = read_dataset(config.data, log=log)
    splits = split(samples, limit=config.limit)
    log("split: " + ", ".join(f"{k} {len(v)}" for k, v in splits.items()) + " (fixed by file name)")
    for name, part in splits.items():
        if len(part) == 0:
            raise FaceKitError(f"the {name} split is empty; use more images (--limit {config.limit} is too small)")
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(asdict(config), indent=2))
    save_split(splits, run_dir / "split.json")

    best_path = run_dir / "best.keras"
    if config.freeze == "all" and config.feature_cache:
        from facekit.features import train_heads_on_cached_features  # fast path: frozen backbone
        best = train_heads_on_cached_features(config, splits, run_dirs, log)
    else:
        _fit(config, splits, run_dirs, size, log)
        if not best_path.exists():
            raise FaceKitError(f"no checkpoint was written to {best_path}: the validation loss never improved "
                               f"(see {run_dir / 'history.csv'})")
        best = load_model(best_path)
    best = save_for_inference(best, config, best_path)
    log(f"evaluating the best checkpoint on the test split ({len(splits['test'])} images)")
    metrics = evaluate(best, splits["test"], run_dir / "metrics.json")
    log(json.dumps({k: v for k, v in metrics.items() if not isinstance(v, dict)}))
    log(f"wrote {best_path}, {run_dir / 'metrics.json'} and plots; TensorBoard: "
        f"tensorboard --logdir {run_dirs['logs'].parent}")
    return metrics


def _fit(config, splits, run_dirs, size, log):
    aug = Augmentation(**config.augmentation)
    train_samples = splits["train"]
    if config.age_balance == "oversample":
        train_samples = oversample_rare_ages(train_samples)
        log(f"oversampling rare ages: {len(splits['train'])} -> {len(train_samples)} training images per epoch")
    strategy = distribution_strategy(config.precision, log)
    with strategy.scope():
        model = build_model(config.backbone, weights=config.weights, input_shape=(size, size, 3),
                            freeze=config.freeze)
        bins = age_bins_of(model)
        steps = int(np.ceil(len(train_samples) / config.batch_size))
        compile_model(model, config, steps)
    log(trainable_summary(model))
    log(f"input {size}x{size}, batch {config.batch_size}, {config.epochs} epochs, lr {config.resolved_lr():g}, "
        f"augmentation {'on' if aug != Augmentation.off() else 'off'}")
    train_ds = make_dataset(train_samples, labels_for(train_samples, bins, config.age_sigma), size,
                            config.batch_size, training=True, augmentation=aug, seed=config.seed,
                            cache_dir=paths.image_cache_dir())
    val_ds = make_dataset(splits["val"], labels_for(splits["val"], bins, config.age_sigma), size,
                          config.batch_size, training=False, cache_dir=paths.image_cache_dir())
    started = time.time()
    model.fit(train_ds, validation_data=val_ds, epochs=config.epochs,
              callbacks=callbacks(run_dirs, config, run_dirs["dir"] / "best.keras"),
              verbose=1 if sys.stdout.isatty() else 2)
    log(f"training took {time.time() - started:.0f} s")


def evaluate_saved(model_path, data, output=None, limit=None, log=print):
    """``--evaluate``: a saved model on the same fixed test split; metrics JSON and plots at ``output``."""
    model_path = Path(model_path)
    model = load_model(model_path)
    splits = split(read_dataset(data, log=log), limit=limit)
    output = Path(output) if output else model_path.parent / "evaluation" / "metrics.json"
    metrics = evaluate(model, splits["test"], output)
    log(json.dumps({k: v for k, v in metrics.items() if not isinstance(v, dict)}))
    log(f"wrote {output} and plots beside it")
    return metrics
