"""A training run's settings (``TrainConfig``): what face_train.py fit takes, what the run's config.json records and
resume reads back."""
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeAlias, cast

import keras

from facekit.backbones.registry import backbone_spec
from facekit.data.sources import Source
from facekit.train.fitting import compile_model
from facekit.train.pipeline import Augmentation

DataEntry: TypeAlias = str | Path | Source | dict[str, Any]
DataSpec: TypeAlias = DataEntry | Sequence[DataEntry]


@dataclass
class TrainConfig:
    # The sources: a folder or file, a Source, or a list of them (or of their dicts, as config.json has); after
    # __post_init__, a list of Source dicts (a folder or file, its crop mode, its weight)
    data: DataSpec
    run: str
    images: str | None = None  # CSV data: the images folder (default: the CSV's folder)
    label_column: str | None = None  # CSV data: what its label column holds (age, gender or race)
    test_fold: int | None = None  # a dataset with folds (Adience): the held-out fold, instead of the fixed split
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
    age_loss: str = "ldl"  # a name of facekit.train.losses.AGE_LOSSES
    age_balance: str = "none"  # or "oversample" (rare age decades), "sex-decade" (rare sex x decade groups)
    augmentation: dict[str, Any] = field(default_factory=lambda: asdict(Augmentation()))
    patience: int = 8
    seed: int = 1
    feature_cache: bool = True  # with freeze=all, train the heads on cached backbone features
    precision: str = "auto"  # see facekit.train.hardware.choose_precision
    init: str | None = None  # a trained .keras model to start from (e.g. a --freeze all run's heads), same backbone
    ema: bool = False  # validate, checkpoint and keep an exponential moving average of the weights
    teachers: list[str] | None = None  # trained models whose predictions are mixed into the targets (distillation)
    teacher_weight: float = 0.5  # the teachers' share of each target
    teacher_tta: str = "flip"  # the teachers' test-time augmentation
    sources_read: list[dict[str, Any]] | None = None  # config.json: each source as read (path, files, label hash)

    def __post_init__(self) -> None:
        entries: Any = [self.data] if isinstance(self.data, (str, Path, Source, dict)) else self.data
        self.data = [asdict(entry) if isinstance(entry, Source) else dict(entry) if isinstance(entry, dict)
                     else asdict(Source(str(entry))) for entry in entries]

    def sources(self) -> list[Source]:
        return [Source(**source) for source in cast(list[dict[str, Any]], self.data)]

    def data_options(self) -> dict[str, str | None]:
        """The options the dataset reader takes (facekit.data.datasets.OPTIONS)."""
        return {"images": self.images, "label_column": self.label_column}

    def resolved_input_size(self) -> int:
        return self.input_size or backbone_spec(self.backbone).input_size

    def resolved_lr(self) -> float:
        if self.lr is not None:
            return self.lr
        return 1e-3 if self.weights in (None, "none") else 1e-4

    def compile(self, model: keras.Model, steps_per_epoch: int) -> None:
        compile_model(model, self.resolved_lr(), self.weight_decay, self.warmup_epochs, self.epochs, steps_per_epoch,
                      ema=self.ema, age_loss=self.age_loss)
