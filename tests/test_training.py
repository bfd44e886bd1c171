"""face_train.py: a training run, --evaluate, resume, the frozen-backbone path and errors, on tiny synthetic
UTKFace files (no ../shared needed); on real UTKFace: the reader's counts, oversampling and a run that learns."""
import csv
import json
import shutil

import keras
import numpy as np
import pytest

import face_train
from facekit import hardware, paths, training
from facekit.data import oversample_rare_ages, split
from facekit.datasets import read_dataset
from facekit.model import feature_extractor, predict_batches
from facekit.pipeline import Augmentation, image_batches
from tests.shared_data import UTKFACE, needs_utkface

MALFORMED = {"39_1_20170116174525125.jpg.chip.jpg", "61_1_20170109142408075.jpg.chip.jpg",
             "61_1_20170109150557335.jpg.chip.jpg"}
QUIET = dict(log=lambda message: None)


@pytest.fixture
def project(tmp_path, monkeypatch):
    """Runs, logs and caches go to a temporary project root, not the real face_weights/."""
    monkeypatch.setattr(paths, "PROJECT_ROOT", tmp_path)
    return tmp_path


def _config(run, data, **overrides):
    settings = dict(data=str(data), run=run, backbone="simple_cnn", weights=None, input_size=32, epochs=3,
                    batch_size=16, lr=3e-3, patience=10, augmentation=training.asdict(Augmentation.off()))
    return training.TrainConfig(**{**settings, **overrides})


def _history(run_dir):
    with open(run_dir / "history.csv") as f:
        return list(csv.DictReader(f))


def test_training_precision_is_restored_even_when_the_block_fails():
    with pytest.raises(RuntimeError):
        with hardware.training_precision("mixed_bfloat16", **QUIET):
            assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
            raise RuntimeError("a build that fails, such as an invalid --freeze")
    assert keras.mixed_precision.global_policy().name == "float32"


def test_precision_choice():
    assert hardware.choose_precision("auto", gpus=["GPU:0"]) == "mixed_float16"
    assert hardware.choose_precision("auto", gpus=[]) in ("mixed_bfloat16", "float32")
    assert hardware.choose_precision("float32", gpus=["GPU:0"]) == "float32"


def test_training_run_writes_everything_and_evaluate_reproduces_it(project, tiny_utkface):
    metrics = training.train(_config("short", tiny_utkface, precision="mixed_bfloat16"), **QUIET)
    run_dir = project / "face_weights" / "short"
    # Trained in mixed precision, saved in float32 so that inference needs no bf16 support.
    saved_model = keras.saving.load_model(run_dir / "best.keras")
    assert {w.dtype for w in saved_model.weights} == {"float32"}
    assert keras.mixed_precision.global_policy().name == "float32"
    assert list((project / "logs" / "short").rglob("events.out.tfevents.*"))
    saved = json.loads((run_dir / "metrics.json").read_text())
    test_split = split(read_dataset(tiny_utkface, **QUIET))["test"]
    assert saved == metrics and saved["n_test"] == len(test_split)
    assert json.loads((run_dir / "split.json").read_text())["test"] == test_split.names
    for plot in ("confusion_gender.png", "confusion_race.png", "confusion_age_group.png", "age_mae_by_decade.png"):
        assert (run_dir / plot).stat().st_size > 1000
    assert len(_history(run_dir)) == 3

    # --evaluate on the saved model reproduces the test metrics.
    output = project / "eval" / "metrics.json"
    face_train.main(["--evaluate", str(run_dir / "best.keras"), "--data", str(tiny_utkface), "--output", str(output)])
    assert json.loads(output.read_text()) == saved

    # The run now holds a checkpoint: reusing its name without --resume is refused.
    with pytest.raises(SystemExit) as exit_info:
        face_train.main(["--data", str(tiny_utkface), "--run", "short", "--backbone", "simple_cnn", "--weights", "none"])
    assert exit_info.value.code == 2


class _Interrupt(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            raise KeyboardInterrupt("simulated interruption")


def test_resume_continues_from_the_saved_epoch(project, tiny_utkface, monkeypatch):
    config = _config("resumable", tiny_utkface, epochs=4)
    original = training.callbacks
    monkeypatch.setattr(training, "callbacks", lambda *args, **kwargs: original(*args, **kwargs) + [_Interrupt()])
    with pytest.raises(KeyboardInterrupt):
        training.train(config, **QUIET)
    run_dir = project / "face_weights" / "resumable"
    assert [int(r["epoch"]) for r in _history(run_dir)] == [0, 1]  # interrupted at the end of epoch 1
    best_before = min(float(r["val_loss"]) for r in _history(run_dir))
    monkeypatch.setattr(training, "callbacks", original)
    face_train.main(["--resume", "--run", "resumable"])
    history = _history(run_dir)
    assert [int(r["epoch"]) for r in history] == [0, 1, 2, 3]  # resumed after the last backed-up epoch, not from 0
    assert (run_dir / "metrics.json").is_file()
    # The checkpoint kept its best validation loss across the interruption.
    assert min(float(r["val_loss"]) for r in history) <= best_before
    # A finished run cannot be resumed (it would start again from epoch 0).
    with pytest.raises(SystemExit) as exit_info:
        face_train.main(["--resume", "--run", "resumable"])
    assert exit_info.value.code == 2


def test_frozen_backbone_trains_heads_on_cached_features(project, tiny_utkface):
    training.train(_config("cached", tiny_utkface, freeze="all", epochs=2), **QUIET)
    cache = list((project / "train_data" / "features").glob("*.npz"))
    assert len(cache) == 1
    model = keras.saving.load_model(project / "face_weights" / "cached" / "best.keras", compile=False)
    # The saved model's backbone is the one that made the cached features.
    parts = split(read_dataset(tiny_utkface, **QUIET))
    recomputed = predict_batches(feature_extractor(model).predict_on_batch, image_batches(parts["val"], 32, 16))
    with np.load(cache[0]) as cached:
        np.testing.assert_allclose(recomputed, cached["val"], rtol=1e-4, atol=1e-5)
        assert len(cached["train_flip"]) == len(parts["train"])


def test_init_starts_fine_tuning_from_a_trained_model(project, tiny_utkface, monkeypatch):
    """Linear probing, then fine-tuning: the second run starts from the first run's weights, not from scratch."""
    training.train(_config("probe", tiny_utkface, freeze="all", epochs=2), **QUIET)
    probe = keras.saving.load_model(project / "face_weights" / "probe" / "best.keras")
    seen = {}
    original = training.start_from

    def spy(model, path, log):
        original(model, path, log)
        seen["weights"] = [w.copy() for w in model.get_weights()]

    monkeypatch.setattr(training, "start_from", spy)
    training.train(_config("tuned", tiny_utkface, epochs=1, init=str(project / "face_weights" / "probe" /
                                                                    "best.keras")), **QUIET)
    for started, trained in zip(seen["weights"], probe.get_weights()):
        np.testing.assert_array_equal(started, trained)
    # A model of another input size does not fit, and says so in one line.
    with pytest.raises(training.FaceKitError, match="--init .* input"):
        training.train(_config("wrong", tiny_utkface, epochs=1, input_size=48,
                               init=str(project / "face_weights" / "probe" / "best.keras")), **QUIET)


@pytest.mark.parametrize("argv,message", [
    (["--data", "/nonexistent/folder"], "data not found"),
    (["--data", "EMPTY"], "no images in"),
    (["--data", "UNNAMED"], "has a UTKFace name"),
    (["--data", "DATA", "--backbone", "simple_cnn", "--weights", "none", "--freeze", "conv9"], "invalid freeze value"),
    (["--data", "DATA", "--backbone", "simple_cnn", "--weights", "vggface2"], "no pretrained weights"),
    (["--data", "/nonexistent/folder", "--backbone", "simple_cnn", "--input-size", "8"],
     "input size 8x8 is too small for simple_cnn: it needs at least 16 pixels a side"),
])
def test_cli_errors_are_one_line(argv, message, project, tiny_utkface, capsys):
    (project / "EMPTY").mkdir()
    (project / "UNNAMED").mkdir()
    shutil.copy(next(tiny_utkface.iterdir()), project / "UNNAMED" / "holiday.jpg")
    folders = {"EMPTY": project / "EMPTY", "UNNAMED": project / "UNNAMED", "DATA": tiny_utkface}
    with pytest.raises(SystemExit) as exit_info:
        face_train.main([str(folders.get(a, a)) for a in argv] + ["--epochs", "1"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and message in err[-1]


@pytest.fixture(scope="module")
def utkface():
    messages = []
    samples = read_dataset(UTKFACE, log=messages.append)
    return samples, messages


@needs_utkface
def test_reader_counts_and_malformed_names(utkface):
    samples, messages = utkface
    assert len(samples) == 23_708 - 3
    assert np.bincount(samples.genders).tolist() == [12_391, 11_314]
    assert np.bincount(samples.races).tolist() == [10_078, 4_526, 3_434, 3_975, 1_692]
    assert samples.ages.min() == 1 and samples.ages.max() == 116
    skipped = messages[0]
    assert skipped.startswith("skipped 3 file(s)") and all(name in skipped for name in MALFORMED)
    assert "White 10078" in messages[1]


@needs_utkface
def test_oversampling_repeats_rare_age_decades(utkface):
    samples = split(utkface[0])["train"]
    balanced = oversample_rare_ages(samples)
    before = np.bincount(np.minimum(samples.ages // 10, 9), minlength=10)
    after = np.bincount(np.minimum(balanced.ages // 10, 9), minlength=10)
    assert after[2] == before[2]  # the commonest decade (20s) is not repeated
    assert after[8] == 4 * before[8] and after[6] > before[6]  # the old are
    assert (after / after.sum()).std() < (before / before.sum()).std()
    assert set(balanced.names) == set(samples.names)  # repeats only, nothing new, nothing dropped


@needs_utkface
def test_short_run_on_real_faces_learns(project):
    """400 real faces, four epochs at 32 px in bfloat16: the training loss falls."""
    config = _config("real", UTKFACE, epochs=4, batch_size=32, limit=400, precision="mixed_bfloat16")
    metrics = training.train(config, **QUIET)
    losses = [float(row["loss"]) for row in _history(project / "face_weights" / "real")]
    assert len(losses) == 4 and losses[-1] < losses[0]
    assert metrics["n_test"] == len(split(read_dataset(UTKFACE, **QUIET), limit=400)["test"])
