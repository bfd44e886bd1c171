"""A training run's folders and files: face_weights/RUN/ (checkpoint, settings, split, history, metrics) and
logs/RUN/."""
import csv
import json
from dataclasses import dataclass
from pathlib import Path

from facekit.core import paths
from facekit.core.errors import FaceKitError


@dataclass(frozen=True)
class RunFolder:
    dir: Path
    logs: Path

    @classmethod
    def named(cls, run: str | Path) -> "RunFolder":
        """The run ``run``: face_weights/RUN/ and logs/RUN/ under the project's home (a protocol's folds:
        RUN/foldK). A name, not a place: one that would leave those folders (``..``, ``/abs/dir``) is refused."""
        name = str(run)
        parts = Path(name).parts
        if not name.strip() or Path(name).is_absolute() or any(part in (".", "..") for part in parts):
            raise FaceKitError(f"--run {name!r}: a run is named, not placed (no '..', no absolute path): its files go "
                               f"to {paths.face_weights_dir()}/NAME and {paths.logs_dir()}/NAME")
        return cls(paths.face_weights_dir() / name, paths.logs_dir() / name)

    @property
    def name(self) -> str:
        return self.dir.name

    @property
    def best(self) -> Path:
        return self.dir / "best.keras"

    @property
    def backup(self) -> Path:
        return self.dir / "backup"

    @property
    def config(self) -> Path:
        return self.dir / "config.json"

    @property
    def split(self) -> Path:
        return self.dir / "split.json"

    @property
    def history(self) -> Path:
        return self.dir / "history.csv"

    @property
    def metrics(self) -> Path:
        return self.dir / "metrics.json"

    def check(self, resume: bool) -> None:
        """Refuses to reuse a run folder that holds any of a run's files (a checkpoint, its settings, history or
        metrics: an earlier run's, or someone's own), unless resuming; refuses to resume a finished run."""
        existing = [p.name for p in (self.best, self.backup, self.config, self.history, self.metrics, self.split)
                    if p.exists()]
        if existing and not resume:
            raise FaceKitError(f"run '{self.name}' already has {', '.join(existing)} in {self.dir}; "
                               "pass --resume to continue it, or choose another --run name")
        if resume and not self.config.exists():
            raise FaceKitError(f"nothing to resume: {self.config} does not exist")
        if resume and self.metrics.exists() and not self.backup.exists():
            raise FaceKitError(f"run '{self.name}' has finished (see {self.metrics}); start a new run to train more")
        if resume and not self.backup.exists() and self.best_val_loss() is not None:  # never a silent restart
            raise FaceKitError(f"cannot resume run '{self.name}': its backup {self.backup} is gone, so it would "
                               f"start again from its first epoch (what it trained is in {self.history}); start a "
                               "new run instead")

    def finished_epochs(self) -> int:
        """How many epochs the run's backup holds (what --resume continues after); 0 without a backup."""
        try:
            return int(json.loads((self.backup / "training_metadata.json").read_text())["epoch"])
        except (OSError, ValueError, KeyError, TypeError):
            return 0

    def epochs_trained(self) -> int:
        """How many epochs history.csv records (a resumed run's earlier ones too); 0 without it."""
        if not self.history.exists():
            return 0
        with open(self.history) as f:
            return sum(1 for _ in csv.DictReader(f))

    def best_val_loss(self) -> float | None:
        """The best validation loss reached so far, so a resumed run's checkpoint is not replaced by a worse one."""
        if not self.history.exists():
            return None
        with open(self.history) as f:
            losses = [float(row["val_loss"]) for row in csv.DictReader(f) if row.get("val_loss")]
        return min(losses) if losses else None
