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
import types
from dataclasses import dataclass

import tensorflow as tf

from facekit.core.errors import FaceKitError


@dataclass(frozen=True)
class Worker:
    count: int  # workers in the cluster, chief included
    index: int  # this one's position among them
    chief: bool

    @property
    def name(self):
        return "chief" if self.chief else f"worker-{self.index}"


def worker():
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
                           "the README's 'Several machines'") from None
    if kind not in ("chief", "worker"):
        raise FaceKitError(f"TF_CONFIG's task type is '{kind}': face_train.py runs as a chief or a worker")
    count = len(chiefs) + len(workers)
    if count < 2:
        return None
    position = index if kind == "chief" else len(chiefs) + index
    return Worker(count, position, chief=kind == "chief" or (not chiefs and index == 0))


@functools.cache
def strategy():
    """The process's MultiWorkerMirroredStrategy (made once, before TensorFlow runs anything else)."""
    try:
        made = tf.distribute.MultiWorkerMirroredStrategy()
    except (RuntimeError, ValueError) as error:
        raise FaceKitError(f"cannot join the cluster TF_CONFIG describes: {error}") from None
    _patch_keras_reduction()
    return made


# The Keras versions whose private ``reduce_per_replica`` the patch was written for and tested with
# (tests/train/test_multi_worker.py); another version is refused rather than patched blind.
PATCHED_KERAS = ("3.15.",)


def _patch_keras_reduction():
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

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and trainer._collective_all_reduce_multi_worker(strategy):
            return tf.nest.map_structure(lambda value: strategy.reduce("MEAN", value, axis=None), values)
        return original(values, strategy, reduction)

    reduce_per_replica.facekit_patched = True
    trainer.reduce_per_replica = reduce_per_replica


def _build_on_local_batch(model, iterator=None, data_batch=None):
    if iterator is not None:
        for _, _, batches in iterator:
            data_batch = model.distribute_strategy.experimental_local_results(next(batches))[0]
            break
    with model.distribute_strategy.scope():
        model._symbolic_build(data_batch=data_batch)


def prepare(model):
    """``model`` (built and compiled under the strategy) ready for ``fit`` on several workers."""
    model._maybe_symbolic_build = types.MethodType(_build_on_local_batch, model)
    return model


def sharded(dataset):
    """The training input: each worker takes its share of the batches."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def whole(dataset):
    """The validation input: the whole split on every worker, so that all take the same steps."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return dataset.with_options(options)
