"""The callbacks that checkpoint, back up, log and stop a run, and the check after it."""
import errno
import gc
import json
import os
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

import keras
import numpy as np

from facekit.core.errors import FaceKitError
from facekit.core.outputs import replacing
from facekit.train.multi_worker import Worker
from facekit.train.run_folder import RunFolder


def write_failure(error: OSError) -> str:
    """Why a checkpoint or backup could not be written, in one line; and the half-written HDF5 file it leaves open in
    the frames of the failed save closed now, quietly. Left to the interpreter's shutdown, h5py's second failing close
    printed two tracebacks and the process died of a segmentation fault (a full disk, issue 28)."""
    reason = os.strerror(error.errno) if error.errno else " ".join(str(error).split())
    if "errno = 28" in str(error):  # h5py puts the C library's errno in its message, not in the exception's
        reason = os.strerror(errno.ENOSPC)
    previous = sys.unraisablehook
    sys.unraisablehook = lambda unraisable: None  # h5py's close fails again, in a finaliser: already said above
    try:
        traceback.clear_frames(error.__traceback__)
        gc.collect()
    finally:
        sys.unraisablehook = previous
    return reason


class BestCheckpoint(keras.callbacks.Callback):
    """Saves the model (or only its weights) whenever the validation loss beats ``best`` (the run's best so far,
    kept across a resume). Written beside and renamed: a process killed while writing, or a full disk, leaves the
    previous checkpoint whole."""

    def __init__(self, path: str | Path, best: float | None = None, weights_only: bool = False,
                 discard: bool = False) -> None:
        super().__init__()
        self.path, self.weights_only, self.discard = Path(path), weights_only, discard
        self.best = np.inf if best is None else best

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
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
            raise FaceKitError(f"cannot write the checkpoint {self.path}: {write_failure(error)}") from error


class Backup(keras.callbacks.BackupAndRestore):
    """Keras' BackupAndRestore (its file names and private attributes as of Keras 3.15), with each file written
    beside and renamed, so that a kill while writing keeps the last whole backup, and a backup that cannot be read
    told in one line instead of a traceback."""

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        try:
            super().on_train_begin(logs)
        except Exception as error:  # h5py and json raise several types for a damaged file
            reason = " ".join(str(error).split()) or error.__class__.__name__
            raise FaceKitError(f"cannot resume: the run's backup {self._weights_path} (with "
                               f"{Path(self._training_metadata_path).name}) cannot be read ({reason}); delete "
                               f"{self.backup_dir} to train the run again from its first epoch") from error

    def _save_model(self) -> None:
        Path(self.backup_dir).mkdir(parents=True, exist_ok=True)
        metadata = json.dumps({"epoch": self._current_epoch, "batch": self._last_batch_seen})
        try:
            with replacing(self._weights_path) as weights, replacing(self._training_metadata_path) as progress:
                self.model.save_weights(weights, overwrite=True)
                progress.write_text(metadata)
        except OSError as error:
            raise FaceKitError(f"cannot write the backup in {self.backup_dir}: {write_failure(error)}") from error


def callbacks(run: RunFolder, checkpoint: str | Path, patience: int, weights_only: bool = False,
              worker: Worker | None = None, ema: bool = False) -> list[keras.callbacks.Callback]:
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


def check_converged(history: keras.callbacks.History, lr: float) -> None:
    """After ``fit``: FaceKitError when TerminateOnNaN stopped a run whose loss became NaN or infinite."""
    losses = history.history.get("loss", [])
    if losses and not np.isfinite(losses[-1]):
        raise FaceKitError(f"training stopped in epoch {history.epoch[-1] + 1}: the loss became {losses[-1]} (the "
                           f"run diverged); train again with a lower --lr than {lr:g}")
