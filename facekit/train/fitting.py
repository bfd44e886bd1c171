"""What ``model.fit`` needs besides data and callbacks: the optimizer and its schedule, the heads' losses
(``facekit.train.losses``) and metrics (``facekit.train.metrics``)."""
import keras

from facekit.backbones.model import age_bins_of
from facekit.core.errors import FaceKitError
from facekit.train.losses import AGE_LOSSES, masked_crossentropy, set_crossentropy
from facekit.train.metrics import AgeMAE, LabelledAccuracy

EMA_MOMENTUM = 0.998  # the average's horizon, about 500 steps: two epochs of a small run, a fifth of UTKFace's


def compile_model(model: keras.Model, lr: float, weight_decay: float, warmup_epochs: float, epochs: int,
                  steps_per_epoch: int, ema: bool = False, age_loss: str = "ldl") -> None:
    """Adam with weight decay; ``lr`` reached by a linear warm-up of ``warmup_epochs``, then cosine decay to 1 %.
    ``ema``: the optimizer keeps an exponential moving average of the weights (``callbacks(..., ema=True)`` validates
    and checkpoints it). ``age_loss``: a name of ``facekit.train.losses.AGE_LOSSES``.

    Masked losses: an image without a label for a head has a target of zeros there (``pipeline.labels_for``), and
    that head's loss is 0 for it; the metrics count only labelled images."""
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
        loss={"age": AGE_LOSSES[age_loss](bins.centres), "gender": masked_crossentropy, "race": set_crossentropy},
        metrics={"age": [AgeMAE(bins.centres)], "gender": [LabelledAccuracy()], "race": [LabelledAccuracy()]})


