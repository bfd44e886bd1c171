"""Training on several machines: ``tf.distribute.MultiWorkerMirroredStrategy`` when ``TF_CONFIG`` describes a cluster
of two or more workers.

Every worker runs the same ``face_train.py`` command with its own ``TF_CONFIG`` (same cluster, its own task). The
training input is sharded per worker (each takes its share of every epoch's batches); validation runs on the whole
split on every worker, so that all take the same steps. The chief (task ``chief``, or worker 0 when the cluster has
no chief) writes the run's settings and split, the checkpoint, history, TensorBoard logs and the final evaluation
(the run's folder is shared: two workers writing one file there race, and the loser stops the cluster); every
worker keeps its own back-up for ``--resume`` (the chief ``backup/``, worker N ``backup-worker-N/``), and
``--resume --run NAME`` on every worker continues the run.

Keras 3.15's ``fit`` under this strategy fails in two places (keras-team/keras#20585): its first symbolic build
reduces a per-replica batch eagerly, and it reduces scalar logs over an axis they lack. ``strategy()`` patches the
second (``reduce_per_replica``, scalars averaged over the workers) and ``prepare(model)`` the first (the local
batch builds the model), nothing else.
"""
import functools
import json
import os
import signal
import socket
import sys
import threading
import time
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

import tensorflow as tf

from facekit.core.errors import FaceKitError


@dataclass(frozen=True)
class Worker:
    count: int  # workers in the cluster, chief included
    index: int  # this one's position among them
    chief: bool

    @property
    def name(self) -> str:
        return "chief" if self.chief else f"worker-{self.index}"


def worker() -> Worker | None:
    """This process's place in the cluster ``TF_CONFIG`` describes; None without one, or with a single worker."""
    text = os.environ.get("TF_CONFIG")
    if not text:
        return None
    try:
        config = json.loads(text)
        cluster, task = config["cluster"], config["task"]
        kind, index = task["type"], int(task["index"])
        chiefs, workers = list(cluster.get("chief", [])), list(cluster.get("worker", []))
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise FaceKitError(f"TF_CONFIG is not a cluster description ({error.__class__.__name__}: {error}); see "
                           "the README's 'Several machines'") from error
    if kind not in ("chief", "worker"):
        raise FaceKitError(f"TF_CONFIG's task type is '{kind}': face_train.py runs as a chief or a worker")
    kinds = chiefs if kind == "chief" else workers
    if not 0 <= index < len(kinds):
        raise FaceKitError(f"TF_CONFIG's task index is {index}, but its cluster lists {len(kinds)} {kind}(s): "
                           f"0 to {len(kinds) - 1}")
    count = len(chiefs) + len(workers)
    if count < 2:
        return None
    position = index if kind == "chief" else len(chiefs) + index
    return Worker(count, position, chief=kind == "chief" or (not chiefs and index == 0))


@functools.cache
def strategy() -> tf.distribute.Strategy:
    """The process's MultiWorkerMirroredStrategy (made once, before TensorFlow runs anything else).

    TensorFlow waits for every worker of the cluster while it makes it, holding the interpreter: deaf to Ctrl+C
    and SIGTERM, silent, for ever. So the other workers are waited for first (``wait_for_peers``)."""
    wait_for_peers()
    try:
        made = tf.distribute.MultiWorkerMirroredStrategy()
    except (RuntimeError, ValueError) as error:
        raise FaceKitError(f"cannot join the cluster TF_CONFIG describes: {error}".splitlines()[0]) from error
    _patch_keras_reduction()
    return made


# The Keras versions whose private ``reduce_per_replica`` the patch was written for and tested with
# (tests/train/test_multi_worker.py); another version is refused rather than patched blind.
PATCHED_KERAS = ("3.15.",)

JOIN_TIMEOUT_S = 600.0  # waited for the other workers to start, unless FACEKIT_JOIN_TIMEOUT_S says otherwise
JOIN_NOTICE_S = 5.0  # waited quietly before saying what it waits for


def join_timeout_s() -> float:
    text = os.environ.get("FACEKIT_JOIN_TIMEOUT_S")
    try:
        value = float(text) if text else JOIN_TIMEOUT_S
    except ValueError:
        value = -1.0
    if not value > 0:
        raise FaceKitError(f"FACEKIT_JOIN_TIMEOUT_S must be a number of seconds over 0, not {text}")
    return value


def wait_for_peers(log: Callable[[str], None] | None = None) -> None:
    """Listens on this task's port (a port already taken is one line) and waits until every other task of
    TF_CONFIG accepts connections on its own: the others do the same, then TensorFlow takes the ports over. Says
    what it waits for after JOIN_NOTICE_S, stops on Ctrl+C or SIGTERM (KeyboardInterrupt), and gives up with a
    FaceKitError after ``join_timeout_s()`` (FACEKIT_JOIN_TIMEOUT_S, default JOIN_TIMEOUT_S)."""
    log = log or (lambda message: print(message, file=sys.stderr, flush=True))
    timeout = join_timeout_s()
    config = json.loads(os.environ["TF_CONFIG"])
    cluster, task = config["cluster"], config["task"]
    own = cluster[task["type"]][int(task["index"])]
    pending = [address for kind in ("chief", "worker") for address in cluster.get(kind, []) if address != own]
    _, _, port = own.rpartition(":")
    previous = signal.signal(signal.SIGTERM, _interrupt) if threading.current_thread() is threading.main_thread() \
        else None
    try:
        with socket.socket() as listener:
            try:
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                listener.bind(("", int(port)))
                listener.listen(16)
            except (OSError, ValueError, OverflowError) as error:
                raise FaceKitError(f"this worker cannot listen on port {port} (TF_CONFIG's {task['type']} "
                                   f"{task['index']}, {own}): {getattr(error, 'strerror', None) or error}") from error
            start, told = time.monotonic(), False
            while pending:
                pending = [address for address in pending if not _accepts(address)]
                waited = time.monotonic() - start
                if pending and waited > timeout:
                    raise FaceKitError(f"the other workers of TF_CONFIG ({', '.join(pending)}) did not start within "
                                       f"{timeout:g} s: run the same command on each, with its own TF_CONFIG task "
                                       "(FACEKIT_JOIN_TIMEOUT_S waits longer)")
                if pending and waited > JOIN_NOTICE_S and not told:
                    log(f"waiting for the other workers of TF_CONFIG ({', '.join(pending)}) to start; giving up "
                        f"after {timeout:g} s (FACEKIT_JOIN_TIMEOUT_S); Ctrl+C stops")
                    told = True
                if pending:
                    time.sleep(0.5)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _accepts(address: str) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=1):
            return True
    except (OSError, ValueError):
        return False


def _interrupt(signum: int, frame: types.FrameType | None) -> NoReturn:
    raise KeyboardInterrupt


def _patch_keras_reduction() -> None:
    import keras
    from keras.src.backend.tensorflow import trainer

    if not keras.__version__.startswith(PATCHED_KERAS):
        raise FaceKitError(f"training on several machines patches Keras {' or '.join(v + 'x' for v in PATCHED_KERAS)} "
                           f"(keras-team/keras#20585), not Keras {keras.__version__}: install the version "
                           "requirements/train.txt pins, or check the patch in facekit/train/multi_worker.py against "
                           "this one and add it to PATCHED_KERAS")
    original = getattr(trainer, "reduce_per_replica", None)
    if original is None or not hasattr(trainer, "_collective_all_reduce_multi_worker"):
        raise FaceKitError(f"Keras {keras.__version__} lacks the private functions facekit/train/multi_worker.py "
                           "patches: install the version requirements/train.txt pins")
    if getattr(original, "facekit_patched", False):
        return

    def reduce_per_replica(values: Any, strategy: tf.distribute.Strategy, reduction: str) -> Any:
        if reduction in ("auto", "mean") and trainer._collective_all_reduce_multi_worker(strategy):
            return tf.nest.map_structure(lambda value: strategy.reduce("MEAN", value, axis=None), values)
        return original(values, strategy, reduction)

    reduce_per_replica.facekit_patched = True  # type: ignore[attr-defined]  # a mark on the function
    trainer.reduce_per_replica = reduce_per_replica


def _build_on_local_batch(model: Any, iterator: Any = None, data_batch: Any = None) -> None:
    if iterator is not None:
        for _, _, batches in iterator:
            data_batch = model.distribute_strategy.experimental_local_results(next(batches))[0]
            break
    with model.distribute_strategy.scope():
        model._symbolic_build(data_batch=data_batch)


def prepare(model: Any) -> Any:
    """``model`` (built and compiled under the strategy) ready for ``fit`` on several workers."""
    model._maybe_symbolic_build = types.MethodType(_build_on_local_batch, model)
    return model


def sharded(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """The training input: each worker takes its share of the batches."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def whole(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """The validation input: the whole split on every worker, so that all take the same steps."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return dataset.with_options(options)
