"""What ``model.fit`` needs besides data: the optimizer and its schedule, losses and metrics (with AgeMAE), and
the callbacks that checkpoint, log, back up and stop a run."""
import keras
import tensorflow as tf

from facekit.model import age_bins_of


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


def compile_model(model, lr, weight_decay, warmup_epochs, epochs, steps_per_epoch):
    """Adam with weight decay; ``lr`` reached by a linear warm-up of ``warmup_epochs``, then cosine decay to 1 %."""
    bins = age_bins_of(model)
    total = max(1, epochs * steps_per_epoch)
    warmup = min(int(warmup_epochs * steps_per_epoch), total - 1)
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=lr / 10 if warmup else lr, decay_steps=total - warmup, alpha=0.01,
        warmup_target=lr if warmup else None, warmup_steps=warmup)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule, weight_decay=weight_decay),
        loss={"age": "categorical_crossentropy", "gender": "categorical_crossentropy",
              "race": "categorical_crossentropy"},
        metrics={"age": [AgeMAE(bins.centres)], "gender": ["accuracy"], "race": ["accuracy"]})


def callbacks(run, checkpoint, patience, weights_only=False):
    """Back-up for --resume, best checkpoint by validation loss (never worse than the run's best so far),
    TensorBoard, history.csv, early stopping. ``run``: a RunFolder."""
    return [
        keras.callbacks.BackupAndRestore(str(run.backup)),
        keras.callbacks.ModelCheckpoint(str(checkpoint), monitor="val_loss", save_best_only=True,
                                        save_weights_only=weights_only,
                                        initial_value_threshold=run.best_val_loss()),
        keras.callbacks.TensorBoard(str(run.logs)),
        keras.callbacks.CSVLogger(str(run.history), append=True),
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience),
    ]
