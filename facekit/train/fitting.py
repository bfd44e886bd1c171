"""What ``model.fit`` needs besides data: the optimizer and its schedule, losses and metrics (with AgeMAE), and
the callbacks that checkpoint, log, back up and stop a run."""
import json
import tempfile
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from facekit.backbones.model import age_bins_of
from facekit.core.errors import FaceKitError
from facekit.core.outputs import replacing


def labelled(y_true):
    """1 for the rows of a batch that carry a label, 0 for rows of zeros (a label the image lacks)."""
    return tf.cast(tf.reduce_sum(tf.cast(y_true, tf.float32), axis=-1) > 0, tf.float32)


@keras.saving.register_keras_serializable(package="facekit")
def masked_crossentropy(y_true, y_pred):
    """Categorical cross-entropy over the images that have a label for the head; 0 (and no gradient) for the others.

    A missing label is a target row of zeros. Fed to Keras' cross-entropy as it is, such rows do not add to the
    loss but did wreck training: on All-Age-Faces (no race) fine-tuning dlib's network diverged within 30 steps at
    lr 5e-5, and was stable with the same rows masked here. So the rows are given a harmless target, and their loss
    is multiplied by 0."""
    known = labelled(y_true)
    classes = tf.cast(tf.shape(y_true)[-1], tf.float32)
    safe = tf.where(known[:, None] > 0, tf.cast(y_true, tf.float32), 1.0 / classes)
    return keras.losses.categorical_crossentropy(safe, y_pred) * known


@keras.saving.register_keras_serializable(package="facekit")
class MeanVarianceLoss(keras.losses.Loss):
    """The age head's loss with ``--age-loss mean-variance`` (Pan et al., CVPR 2018): the masked cross-entropy, plus
    ``mean_weight`` times half the squared error of the predicted distribution's mean (in years: the expected age
    the demos report) and ``variance_weight`` times its variance, so that the distribution is also pulled to centre
    on the true age and to be sharp. Images without an age add nothing."""

    def __init__(self, centres, mean_weight=0.2, variance_weight=0.05, name="mean_variance", **kwargs):
        super().__init__(name=name, **kwargs)
        self.centres, self.mean_weight, self.variance_weight = [float(c) for c in centres], mean_weight, variance_weight

    def call(self, y_true, y_pred):
        targets, probs = tf.cast(y_true, tf.float32), tf.cast(y_pred, tf.float32)
        centres = tf.constant(self.centres, tf.float32)
        known = labelled(targets)
        true_age = tf.reduce_sum(targets * centres, -1) / tf.maximum(tf.reduce_sum(targets, -1), 1e-6)
        mean = tf.reduce_sum(probs * centres, -1)
        variance = tf.reduce_sum(probs * tf.square(centres - mean[:, None]), -1)
        extra = self.mean_weight * 0.5 * tf.square(mean - true_age) + self.variance_weight * variance
        return masked_crossentropy(targets, probs) + known * extra

    def get_config(self):
        return {**super().get_config(), "centres": self.centres, "mean_weight": self.mean_weight,
                "variance_weight": self.variance_weight}


AGE_LOSSES = ("ldl", "mean-variance")


class _LabelledOnly:
    """A metric that skips the images without a label for its head (targets all zeros)."""

    def update_state(self, y_true, y_pred, sample_weight=None):
        weight = labelled(y_true)
        if sample_weight is not None:
            weight = weight * tf.cast(tf.reshape(sample_weight, tf.shape(weight)), tf.float32)
        return super().update_state(y_true, y_pred, sample_weight=weight)


@keras.saving.register_keras_serializable(package="facekit")
class LabelledAccuracy(_LabelledOnly, keras.metrics.CategoricalAccuracy):
    """Categorical accuracy over the images that have a label for the head."""

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(name=name, dtype=dtype)


@keras.saving.register_keras_serializable(package="facekit")
class AgeMAE(_LabelledOnly, keras.metrics.MeanMetricWrapper):
    """Mean absolute difference, in years, between the expected ages of the target and predicted distributions,
    over the images that have an age."""

    def __init__(self, centres, name="mae", dtype=None):
        self.centres = [float(c) for c in centres]
        weights = tf.constant(self.centres, tf.float32)[:, None]
        super().__init__(lambda y_true, y_pred: tf.abs(tf.matmul(tf.cast(y_true, tf.float32), weights)
                                                       - tf.matmul(tf.cast(y_pred, tf.float32), weights))[:, 0],
                         name=name, dtype=dtype)

    def get_config(self):
        return {"centres": self.centres, "name": self.name, "dtype": self.dtype}


EMA_MOMENTUM = 0.998  # the average's horizon, about 500 steps: two epochs of a small run, a fifth of UTKFace's


def compile_model(model, lr, weight_decay, warmup_epochs, epochs, steps_per_epoch, ema=False, age_loss="ldl"):
    """Adam with weight decay; ``lr`` reached by a linear warm-up of ``warmup_epochs``, then cosine decay to 1 %.
    ``ema``: the optimizer keeps an exponential moving average of the weights (``callbacks(..., ema=True)`` validates
    and checkpoints it). ``age_loss``: ldl, cross-entropy with the (Gaussian) age distribution, or mean-variance
    (``MeanVarianceLoss``).

    Masked losses: an image without a label for a head has a target of zeros there (``pipeline.labels_for``), and
    that head's loss is 0 for it (``masked_crossentropy``); the metrics count only labelled images."""
    if age_loss not in AGE_LOSSES:
        raise FaceKitError(f"unknown age loss '{age_loss}': use one of {', '.join(AGE_LOSSES)}")
    bins = age_bins_of(model)
    total = max(1, epochs * steps_per_epoch)
    warmup = min(int(warmup_epochs * steps_per_epoch), total - 1)
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=lr / 10 if warmup else lr, decay_steps=total - warmup, alpha=0.01,
        warmup_target=lr if warmup else None, warmup_steps=warmup)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule, weight_decay=weight_decay, use_ema=ema, ema_momentum=EMA_MOMENTUM),
        loss={"age": MeanVarianceLoss(bins.centres) if age_loss == "mean-variance" else masked_crossentropy,
              "gender": masked_crossentropy, "race": masked_crossentropy},
        metrics={"age": [AgeMAE(bins.centres)], "gender": [LabelledAccuracy()], "race": [LabelledAccuracy()]})


class BestCheckpoint(keras.callbacks.Callback):
    """Saves the model (or only its weights) whenever the validation loss beats ``best`` (the run's best so far,
    kept across a resume). Written beside and renamed: a process killed while writing, or a full disk, leaves the
    previous checkpoint whole."""

    def __init__(self, path, best=None, weights_only=False, discard=False):
        super().__init__()
        self.path, self.weights_only, self.discard = Path(path), weights_only, discard
        self.best = np.inf if best is None else best

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("val_loss")
        if loss is None or not loss < self.best:  # NaN never improves
            return
        self.best = loss
        if self.discard:  # a worker that is not the chief saves as the chief does (saving takes part in the
            with tempfile.TemporaryDirectory() as scratch:  # cluster's collective ops), then throws it away
                (self.model.save_weights if self.weights_only else self.model.save)(Path(scratch) / self.path.name)
            return
        try:
            with replacing(self.path) as partial:
                (self.model.save_weights if self.weights_only else self.model.save)(partial)
        except OSError as error:
            raise FaceKitError(f"cannot write the checkpoint {self.path}: {error.strerror or error}") from None


class Backup(keras.callbacks.BackupAndRestore):
    """Keras' BackupAndRestore (its file names and private attributes as of Keras 3.15), with each file written
    beside and renamed, so that a kill while writing keeps the last whole backup, and a backup that cannot be read
    told in one line instead of a traceback."""

    def on_train_begin(self, logs=None):
        try:
            super().on_train_begin(logs)
        except Exception as error:  # h5py and json raise several types for a damaged file
            reason = " ".join(str(error).split()) or error.__class__.__name__
            raise FaceKitError(f"cannot resume: the run's backup {self._weights_path} (with "
                               f"{Path(self._training_metadata_path).name}) cannot be read ({reason}); delete "
                               f"{self.backup_dir} to train the run again from its first epoch") from None

    def _save_model(self):
        Path(self.backup_dir).mkdir(parents=True, exist_ok=True)
        metadata = json.dumps({"epoch": self._current_epoch, "batch": self._last_batch_seen})
        try:
            with replacing(self._weights_path) as weights, replacing(self._training_metadata_path) as progress:
                self.model.save_weights(weights, overwrite=True)
                progress.write_text(metadata)
        except OSError as error:
            raise FaceKitError(f"cannot write the backup in {self.backup_dir}: {error.strerror or error}") from None


def callbacks(run, checkpoint, patience, weights_only=False, worker=None, ema=False):
    """Back-up for --resume, best checkpoint by validation loss (never worse than the run's best so far), a stop
    when the loss is no longer a number, TensorBoard, history.csv, early stopping. ``run``: a RunFolder.

    ``worker`` (facekit.train.multi_worker), not the chief of its cluster: its own back-up, and no checkpoint (saved and
    thrown away), logs or history (the chief writes them; every worker sees the same losses: all stop together).
    ``ema``: the weights' moving average is swapped in for validation and for the callbacks after it (checkpoint,
    backup) at each epoch's end, swapped out for training."""
    swap = [keras.callbacks.SwapEMAWeights(swap_on_epoch=True)] if ema else []
    if worker is not None and not worker.chief:
        return swap + [Backup(str(run.dir / f"backup-{worker.name}")),
                BestCheckpoint(checkpoint, best=run.best_val_loss(), weights_only=weights_only, discard=True),
                keras.callbacks.TerminateOnNaN(), keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience)]
    return swap + [
        Backup(str(run.backup)),
        BestCheckpoint(checkpoint, best=run.best_val_loss(), weights_only=weights_only),
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.TensorBoard(str(run.logs)),
        keras.callbacks.CSVLogger(str(run.history), append=True),
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience),
    ]


def check_converged(history, lr):
    """After ``fit``: FaceKitError when TerminateOnNaN stopped a run whose loss became NaN or infinite."""
    losses = history.history.get("loss", [])
    if losses and not np.isfinite(losses[-1]):
        raise FaceKitError(f"training stopped in epoch {history.epoch[-1] + 1}: the loss became {losses[-1]} (the "
                           f"run diverged); train again with a lower --lr than {lr:g}")
