"""A training run's folder (facekit/train/run_folder.py): reused only by --resume, resumed only when it can be."""
import json

import pytest

from facekit.core import paths
from facekit.core.errors import FaceKitError
from facekit.train.run_folder import RunFolder


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "PROJECT_ROOT", tmp_path)
    folder = RunFolder.named("mine")
    folder.dir.mkdir(parents=True)
    return folder


def test_files_and_epochs_and_best_loss(run, tmp_path):
    assert (run.name, run.best, run.logs) == ("mine", tmp_path / "face_weights" / "mine" / "best.keras",
                                              tmp_path / "logs" / "mine")
    assert run.finished_epochs() == 0 and run.best_val_loss() is None
    run.backup.mkdir()
    (run.backup / "training_metadata.json").write_text(json.dumps({"epoch": 3}))
    run.history.write_text("epoch,val_loss\n0,2.5\n1,1.75\n2,\n")
    assert run.finished_epochs() == 3 and run.best_val_loss() == 1.75


def test_a_run_is_reused_only_to_resume_and_resumed_only_when_it_can_be(run):
    run.check(resume=False)  # a new run
    with pytest.raises(FaceKitError, match="nothing to resume"):
        run.check(resume=True)
    run.best.write_bytes(b"checkpoint")
    with pytest.raises(FaceKitError, match="already has best.keras"):
        run.check(resume=False)
    run.config.write_text("{}")
    run.metrics.write_text("{}")
    with pytest.raises(FaceKitError, match="has finished"):
        run.check(resume=True)
    run.metrics.unlink()
    run.history.write_text("epoch,val_loss\n0,2.5\n")
    with pytest.raises(FaceKitError, match="its backup .* is gone"):
        run.check(resume=True)
    run.backup.mkdir()
    run.check(resume=True)


@pytest.mark.parametrize("own", ["config.json", "history.csv", "metrics.json", "split.json"])
def test_a_folder_with_a_runs_files_but_no_checkpoint_is_not_reused(run, own):
    """A run folder without best.keras was reused: config.json and metrics.json replaced, history.csv mixing two
    runs' epochs; a folder of the user's own files was written over (issue 28)."""
    (run.dir / own).write_text("mine\n")
    with pytest.raises(FaceKitError, match=f"already has {own}"):
        run.check(resume=False)
    assert (run.dir / own).read_text() == "mine\n"


@pytest.mark.parametrize("name", ["../../escape", "/abs/dir", "a/../../b", " ", ".."])
def test_a_run_name_that_leaves_the_runs_folder_is_refused(run, name):
    with pytest.raises(FaceKitError, match="a run is named, not placed"):
        RunFolder.named(name)
    assert RunFolder.named("adience/fold0").dir.parent.name == "adience"  # a protocol's folds stay inside
