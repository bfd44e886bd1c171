"""What this machine trains with: the devices (strategy) and the numeric precision (Keras dtype policy)."""
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import keras
import tensorflow as tf

from facekit.train import multi_worker

logger = logging.getLogger(__name__)

PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")


def cpu_has_native_bfloat16() -> bool:
    """True on CPUs with bfloat16 instructions (AVX512-BF16 or AMX), where oneDNN runs bf16 convolutions fast."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:  # not Linux: stay in float32
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def choose_precision(precision: str, gpus: Sequence[Any]) -> str:
    """``auto``: float16 mixed precision on a GPU, bfloat16 on a CPU that has it natively, else float32."""
    if precision != "auto":
        return precision
    if gpus:
        return "mixed_float16"
    return "mixed_bfloat16" if cpu_has_native_bfloat16() else "float32"


@contextmanager
def training_precision(precision: str) -> Iterator[str]:
    """Keras's global dtype policy for the layers built inside the block; the previous one comes back after it."""
    gpus = tf.config.list_physical_devices("GPU")
    policy = choose_precision(precision, gpus)
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    logger.info(f"training on {f'{len(gpus)} GPU(s)' if gpus else 'the CPU'}, precision {policy} "
        "(heads and losses stay float32)")
    try:
        yield policy
    finally:
        keras.mixed_precision.set_global_policy(previous)


def distribution_strategy() -> tf.distribute.Strategy:
    """MultiWorkerMirroredStrategy when TF_CONFIG describes a cluster (facekit.train.multi_worker), MirroredStrategy
    over several GPUs, the default strategy otherwise."""
    if multi_worker.worker() is not None:
        return multi_worker.strategy()
    if len(tf.config.list_physical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()
