"""A training run's folders and files: face_weights/RUN/ (checkpoint, settings, split, history, metrics) and logs/RUN/."""
import csv
from dataclasses import dataclass
from pathlib import Path

from facekit import paths
from facekit.errors import FaceKitError


@dataclass(frozen=True)
class RunFolder:
    dir: Path
    logs: Path

    @classmethod
    def named(cls, run):
        return cls(paths.face_weights_dir() / run, paths.logs_dir() / run)

    @property
    def name(self):
        return self.dir.name

    @property
    def best(self):
        return self.dir / "best.keras"

    @property
    def backup(self):
        return self.dir / "backup"

    @property
    def config(self):
        return self.dir / "config.json"

    @property
    def split(self):
        return self.dir / "split.json"

    @property
    def history(self):
        return self.dir / "history.csv"

    @property
    def metrics(self):
        return self.dir / "metrics.json"

    def check(self, resume):
        """Refuses to reuse a run that holds a checkpoint, unless resuming; refuses to resume a finished run."""
        existing = [p.name for p in (self.best, self.backup) if p.exists()]
        if existing and not resume:
            raise FaceKitError(f"run '{self.name}' already has {', '.join(existing)} in {self.dir}; "
                               "pass --resume to continue it, or choose another --run name")
        if resume and not self.config.exists():
            raise FaceKitError(f"nothing to resume: {self.config} does not exist")
        if resume and self.metrics.exists() and not self.backup.exists():
            raise FaceKitError(f"run '{self.name}' has finished (see {self.metrics}); start a new run to train more")

    def best_val_loss(self):
        """The best validation loss reached so far, so a resumed run's checkpoint is not replaced by a worse one."""
        if not self.history.exists():
            return None
        with open(self.history) as f:
            losses = [float(row["val_loss"]) for row in csv.DictReader(f) if row.get("val_loss")]
        return min(losses) if losses else None
