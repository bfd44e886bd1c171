"""face_train.py: a training run, --evaluate, resume, the frozen-backbone path and errors, on tiny synthetic
UTKFace files (no ../shared needed); on real UTKFace: the reader's counts, oversampling and a run that learns."""
import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pytest

import face_train
from facekit.backbones.model import build_model, feature_extractor, load_model
from facekit.core import paths
from facekit.core.labels import utkface_race_of
from facekit.data.datasets import read_dataset
from facekit.data.samples import resample_index, sampling_weights, split
from facekit.data.sources import Source
from facekit.infer.predictors import predict_batches
from facekit.train import callbacks, fitting, hardware, losses, training
from facekit.train.pipeline import Augmentation, image_batches
from tests import background
from tests.logged import logged_messages
from tests.shared_data import UTKFACE, needs_utkface
from tests.synthetic_faces import write_utkface_folder

MALFORMED = {"39_1_20170116174525125.jpg.chip.jpg", "61_1_20170109142408075.jpg.chip.jpg",
             "61_1_20170109150557335.jpg.chip.jpg"}
PROJECT = Path(__file__).resolve().parents[2]


def _config(run, data, **overrides):
    data = data if isinstance(data, list) else str(data)  # several sources, or one
    settings = dict(data=data, run=run, backbone="simple_cnn", weights=None, input_size=32, epochs=3,
                    batch_size=16, lr=3e-3, patience=10, augmentation=training.asdict(Augmentation.off()))
    return training.TrainConfig(**{**settings, **overrides})


def _history(run_dir):
    with open(run_dir / "history.csv") as f:
        return list(csv.DictReader(f))


def test_training_precision_is_restored_even_when_the_block_fails():
    with pytest.raises(RuntimeError):
        with hardware.training_precision("mixed_bfloat16"):
            assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
            raise RuntimeError("a build that fails, such as an invalid --freeze")
    assert keras.mixed_precision.global_policy().name == "float32"


def test_precision_choice():
    assert hardware.choose_precision("auto", gpus=["GPU:0"]) == "mixed_float16"
    assert hardware.choose_precision("auto", gpus=[]) in ("mixed_bfloat16", "float32")
    assert hardware.choose_precision("float32", gpus=["GPU:0"]) == "float32"


@pytest.mark.slow
def test_training_run_writes_everything_and_evaluate_reproduces_it(project, tiny_utkface, recwarn, capsys):
    # 16 px: bfloat16 is emulated on CPUs without it, and a quarter of the pixels is a quarter of its cost
    metrics = training.train(_config("short", tiny_utkface, precision="mixed_bfloat16", input_size=16)).metrics
    # Each epoch takes the steps of one pass over the data, and Keras does not warn that the input ran out.
    assert not [w for w in recwarn if "ran out of data" in str(w.message)]
    run_dir = project / "face_weights" / "short"
    # Trained in mixed precision, saved in float32 so that inference needs no bf16 support.
    saved_model = keras.saving.load_model(run_dir / "best.keras")
    assert {w.dtype for w in saved_model.weights} == {"float32"}
    assert keras.mixed_precision.global_policy().name == "float32"
    assert list((project / "logs" / "short").rglob("events.out.tfevents.*"))
    saved = json.loads((run_dir / "metrics.json").read_text())
    test_split = split(read_dataset(tiny_utkface))["test"]
    assert saved == metrics and saved["n_test"] == len(test_split)
    assert (saved["data"], saved["limit"], saved["split"]) == (str(tiny_utkface.resolve()), None, "test")
    assert json.loads((run_dir / "split.json").read_text())["test"] == test_split.names
    for plot in ("confusion_gender.png", "confusion_race.png", "confusion_age_group.png", "age_mae_by_decade.png"):
        assert (run_dir / plot).stat().st_size > 1000
    assert len(_history(run_dir)) == 3

    # --evaluate on the saved model reproduces the test metrics.
    output = project / "eval" / "metrics.json"
    face_train.main(["--evaluate", str(run_dir / "best.keras"), "--data", str(tiny_utkface), "--output", str(output)])
    assert json.loads(output.read_text()) == saved

    # --evaluate never replaces its model, nor existing metrics or plots without --overwrite; a subset says so.
    model_bytes, run_metrics = (run_dir / "best.keras").read_bytes(), (run_dir / "metrics.json").read_text()
    evaluate = ["--evaluate", str(run_dir / "best.keras"), "--data", str(tiny_utkface)]
    for output_args, message in (
            (["--output", str(run_dir / "best.keras"), "--overwrite"], "is the input"),
            (["--limit", "40", "--output", str(run_dir / "metrics.json")], "metrics.json already exists"),
            (["--limit", "40", "--output", str(run_dir / "other.json")], "confusion_gender.png already exists")):
        with pytest.raises(SystemExit) as exit_info:
            face_train.main(evaluate + output_args)
        assert exit_info.value.code == 2 and message in capsys.readouterr().err
    assert (run_dir / "best.keras").read_bytes() == model_bytes
    assert (run_dir / "metrics.json").read_text() == run_metrics and not (run_dir / "other.json").exists()
    face_train.main(evaluate + ["--limit", "40", "--output", str(output), "--overwrite"])
    subset = json.loads(output.read_text())
    expected_test = split(read_dataset(tiny_utkface), limit=40)["test"]
    assert subset["limit"] == 40 and subset["n_test"] == len(expected_test)

    # The run now holds a checkpoint: reusing its name without --resume is refused.
    with pytest.raises(SystemExit) as exit_info:
        face_train.main(["--data", str(tiny_utkface), "--run", "short", "--backbone", "simple_cnn",
                         "--weights", "none"])
    assert exit_info.value.code == 2


class _Interrupt(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            raise KeyboardInterrupt("simulated interruption")


@pytest.fixture(scope="module")
def interrupted_run(tmp_path_factory, tiny_utkface):
    """A project folder whose run 'interrupted' (4 epochs) stopped with a KeyboardInterrupt at the end of epoch 1,
    trained once for the tests that resume it; each resumes a copy of it (_copy_of)."""
    root = tmp_path_factory.mktemp("interrupted")
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(paths.HOME_VARIABLE, raising=False)  # as no_facekit_home does for a test
        patch.setattr(paths, "PROJECT_ROOT", root)
        original = training.callbacks
        patch.setattr(training, "callbacks", lambda *args, **kwargs: original(*args, **kwargs) + [_Interrupt()])
        with pytest.raises(KeyboardInterrupt):
            training.train(_config("interrupted", tiny_utkface, epochs=4))
    return root


def _copy_of(interrupted_run, project):
    """The interrupted run's folders (its runs and logs; not the image cache: a cache, rebuilt when missing) copied
    into ``project``: its run folder there."""
    for folder in ("face_weights", "logs"):
        shutil.copytree(interrupted_run / folder, project / folder)
    return project / "face_weights" / "interrupted"


@pytest.mark.slow
def test_resume_continues_from_the_saved_epoch(project, interrupted_run):
    run_dir = _copy_of(interrupted_run, project)
    assert [int(r["epoch"]) for r in _history(run_dir)] == [0, 1]  # interrupted at the end of epoch 1
    best_before = min(float(r["val_loss"]) for r in _history(run_dir))
    face_train.main(["--resume", "--run", "interrupted"])
    history = _history(run_dir)
    assert [int(r["epoch"]) for r in history] == [0, 1, 2, 3]  # resumed after the last backed-up epoch, not from 0
    assert (run_dir / "metrics.json").is_file()
    # The checkpoint kept its best validation loss across the interruption.
    assert min(float(r["val_loss"]) for r in history) <= best_before
    # A finished run cannot be resumed (it would start again from epoch 0).
    with pytest.raises(SystemExit) as exit_info:
        face_train.main(["--resume", "--run", "interrupted"])
    assert exit_info.value.code == 2


@pytest.fixture(scope="module")
def probe_run(tmp_path_factory, tiny_utkface):
    """A project folder with the run 'probe': --freeze all, 2 epochs, the heads trained on cached backbone features
    (linear probing). Trained once: the frozen-backbone test checks it, the --init test fine-tunes from it."""
    root = tmp_path_factory.mktemp("probe")
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(paths.HOME_VARIABLE, raising=False)  # as no_facekit_home does for a test
        patch.setattr(paths, "PROJECT_ROOT", root)
        training.train(_config("probe", tiny_utkface, freeze="all", epochs=2))
    return root


@pytest.mark.slow
def test_frozen_backbone_trains_heads_on_cached_features(probe_run, tiny_utkface):
    cache = list((probe_run / "train_data" / "features").glob("*.npz"))
    assert len(cache) == 1
    model = keras.saving.load_model(probe_run / "face_weights" / "probe" / "best.keras", compile=False)
    # The saved model's backbone is the one that made the cached features.
    parts = split(read_dataset(tiny_utkface))
    recomputed = predict_batches(feature_extractor(model).predict_on_batch, image_batches(parts["val"], 32, 16))
    with np.load(cache[0]) as cached:
        np.testing.assert_allclose(recomputed, cached["val"], rtol=1e-4, atol=1e-5)
        assert len(cached["train_flip"]) == len(parts["train"])


@pytest.mark.slow
def test_init_starts_fine_tuning_from_a_trained_model(project, probe_run, tiny_utkface, monkeypatch):
    """Linear probing, then fine-tuning: the second run starts from the first run's weights, not from scratch."""
    probe_file = probe_run / "face_weights" / "probe" / "best.keras"
    probe = keras.saving.load_model(probe_file)
    seen = {}
    original = training.start_from

    def spy(model, path):
        original(model, path)
        seen["weights"] = [w.copy() for w in model.get_weights()]

    monkeypatch.setattr(training, "start_from", spy)
    training.train(_config("tuned", tiny_utkface, epochs=1, init=str(probe_file)))
    for started, trained in zip(seen["weights"], probe.get_weights()):
        np.testing.assert_array_equal(started, trained)
    # The cached-feature path builds its heads from scratch: --init there is refused, not ignored.
    with pytest.raises(training.FaceKitError, match="--init is for fine-tuning"):
        training.train(_config("cached_init", tiny_utkface, freeze="all", init=str(probe_file)))
    # A model of another input size does not fit, and says so in one line.
    with pytest.raises(training.FaceKitError, match="--init .* input"):
        training.train(_config("wrong", tiny_utkface, epochs=1, input_size=48, init=str(probe_file)))


def test_a_missing_label_adds_no_loss_and_no_gradient():
    """masked_crossentropy: rows of zeros (a label the image lacks) give 0 and a zero, finite gradient; labelled rows
    the plain cross-entropy. Keras' cross-entropy on such rows made fine-tuning on All-Age-Faces diverge."""
    import tensorflow as tf
    logits = tf.Variable([[2.0, -1.0, 0.5], [80.0, -80.0, 0.0], [0.1, 0.2, 0.3]])
    targets = tf.constant([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    with tf.GradientTape() as tape:
        loss = losses.masked_crossentropy(targets, tf.nn.softmax(logits))
        total = tf.reduce_sum(loss)
    gradient = tape.gradient(total, logits).numpy()
    expected = keras.losses.categorical_crossentropy(targets[:1], tf.nn.softmax(logits[:1])).numpy()
    np.testing.assert_allclose(loss.numpy(), [expected[0], 0.0, 0.0], rtol=1e-6)
    assert np.isfinite(gradient).all() and (gradient[1:] == 0).all() and np.abs(gradient[0]).sum() > 0


@pytest.mark.slow
def test_ema_run_validates_and_keeps_the_moving_average(project, tiny_utkface):
    """--ema: the optimizer averages the weights, and the checkpoint holds the average, not the last step."""
    training.train(_config("ema", tiny_utkface, epochs=2, ema=True))
    saved = json.loads((project / "face_weights" / "ema" / "config.json").read_text())
    assert saved["ema"] is True and (project / "face_weights" / "ema" / "best.keras").is_file()
    model = build_model("simple_cnn", input_shape=(32, 32, 3))
    fitting.compile_model(model, 1e-3, 1e-4, 1, 2, 4, ema=True)
    assert model.optimizer.use_ema and model.optimizer.ema_momentum == fitting.EMA_MOMENTUM
    assert isinstance(callbacks.callbacks(training.RunFolder.named("x"), "x.keras", 3, ema=True)[0],
                      keras.callbacks.SwapEMAWeights)


@pytest.mark.slow
def test_two_sources_train_together_with_the_missing_race_masked(project, tiny_utkface, tmp_path):
    """A UTKFace folder and a CSV without race (as All-Age-Faces'): one run, each source's own split, the CSV's
    images drawn twice as often, race learnt from the folder alone; config.json records both sources; the test
    metrics come per source too."""
    images = tmp_path / "other"
    labels = write_utkface_folder(images, count=30, seed=5)
    csv_file = images / "labels.csv"
    csv_file.write_text("file,age,gender\n" + "\n".join(
        f"{name},{age},{gender}" for name, (age, gender, _) in labels.items()) + "\n")
    argv = ["--data", str(tiny_utkface), "--data", str(csv_file), "--source-weight", "1",
                       "--source-weight", "2", "--age-balance", "sex-decade", "--backbone", "simple_cnn",
                       "--weights", "none", "--input-size", "32", "--epochs", "2", "--batch-size", "16",
                       "--no-augment", "--run", "two"]
    args = face_train.parse_args(argv)
    assert args.data == [str(tiny_utkface), str(csv_file)] and args.source_weight == [1.0, 2.0]
    sources = [Source(str(tiny_utkface)), Source(str(csv_file), weight=2.0)]
    config = _config("two", sources, age_balance="sex-decade", epochs=2)
    with logged_messages() as messages:
        metrics = training.train(config).metrics
    saved = json.loads((project / "face_weights" / "two" / "config.json").read_text())
    assert [s["data"] for s in saved["data"]] == [str(tiny_utkface), str(csv_file)]
    assert [r["files"] for r in saved["sources_read"]] == [64, 30] and saved["sources_read"][1]["label_sha256"]
    assert any(m.startswith("sampling (--age-balance sex-decade, --source-weight 1 2)") for m in messages)
    assert set(metrics["by_source"]) == {"UTKFace", "other"}
    assert "race_acc" in metrics["by_source"]["UTKFace"] and "race_acc" not in metrics["by_source"]["other"]
    assert metrics["by_source"]["other"]["n_test"] + metrics["by_source"]["UTKFace"]["n_test"] == metrics["n_test"]


@pytest.mark.parametrize("argv,message", [
    (["--data", "/nonexistent/folder"], "data not found"),
    (["--data", "EMPTY", "--backbone", "simple_cnn", "--weights", "none"], "no images in"),
    (["--data", "UNNAMED", "--backbone", "simple_cnn", "--weights", "none"], "has a UTKFace name"),
    (["--data", "DATA", "--backbone", "simple_cnn", "--weights", "none", "--freeze", "conv9"], "invalid freeze value"),
    (["--data", "DATA", "--backbone", "simple_cnn", "--weights", "vggface2"],
     "no pretrained weights exist for 'simple_cnn'; train it from random weights: --weights none"),
    (["--data", "/nonexistent/folder", "--backbone", "simple_cnn", "--input-size", "8"],
     "input size 8x8 is too small for simple_cnn: it needs at least 16 pixels a side"),
    (["--data", "DATA", "--backbone", "simple_cnn", "--weights", "none", "--input-size", "8"],
     "input size 8x8 is too small"),
    (["--data", "DATA", "--lr", "-1"], "argument --lr: must be more than 0, not -1"),
    (["--data", "DATA", "--batch-size", "0"], "argument --batch-size: must be 1 or more"),
    (["--data", "DATA", "--erase", "1.5"], "argument --erase: must be between 0 and 1"),
    (["--data", "DATA", "--age-sigma", "-2"], "argument --age-sigma: must be 0 or more"),
    (["--resume", "--run", "never"], "nothing to resume: "),
])
def test_cli_errors_are_one_line(argv, message, project, tiny_utkface, capsys):
    (project / "EMPTY").mkdir()
    (project / "UNNAMED").mkdir()
    shutil.copy(next(tiny_utkface.iterdir()), project / "UNNAMED" / "holiday.jpg")
    folders = {"EMPTY": project / "EMPTY", "UNNAMED": project / "UNNAMED", "DATA": tiny_utkface}
    with pytest.raises(SystemExit) as exit_info:
        face_train.main([str(folders.get(a, a)) for a in argv] + ["--epochs", "1"])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert "error: " in err[-1] and message in err[-1]
    # Found before the data is read (no label counts, no split) and before the run folder is made.
    assert "images" not in captured.out and "split:" not in captured.out
    assert not (project / "face_weights").exists()


@pytest.fixture(scope="module")
def utkface(utkface_read):
    return utkface_read


@needs_utkface
def test_reader_counts_and_malformed_names(utkface):
    samples, messages = utkface
    assert len(samples) == 23_708 - 3
    assert np.bincount(samples.genders).tolist() == [12_391, 11_314]
    # UTKFace's race codes 0-4 become race labels: White, Black, the Asian set, Indian, the Others set
    assert np.bincount(utkface_race_of(samples.races)).tolist() == [10_078, 4_526, 3_434, 3_975, 1_692]
    assert samples.ages.min() == 1 and samples.ages.max() == 116
    skipped = messages[0]
    assert skipped.startswith("skipped 3 file(s)") and all(name in skipped for name in MALFORMED)
    assert "White 10078" in messages[1]


@needs_utkface
def test_oversampling_repeats_rare_age_decades(utkface):
    samples = split(utkface[0])["train"]
    balanced = samples.subset(resample_index(sampling_weights(samples, "oversample")))
    before = np.bincount(np.minimum(samples.ages // 10, 9), minlength=10)
    after = np.bincount(np.minimum(balanced.ages // 10, 9), minlength=10)
    assert after[2] == before[2]  # the commonest decade (20s) is not repeated
    expected = min(4, np.sqrt(before.max() / before[8])) * before[8]  # the old are, by the root of their rarity
    assert abs(after[8] - expected) < 3 * np.sqrt(before[8]) and after[6] > before[6]
    assert (after / after.sum()).std() < (before / before.sum()).std()
    assert set(balanced.names) == set(samples.names)  # repeats only, nothing new, nothing dropped


@needs_utkface
def test_sex_decade_balance_evens_out_women_and_men_of_each_decade(utkface):
    samples = split(utkface[0])["train"]
    balanced = samples.subset(resample_index(sampling_weights(samples, "sex-decade"), seed=3))
    def groups(part):
        return np.bincount(np.minimum(part.ages // 10, 9) * 2 + part.genders, minlength=20)

    before, after = groups(samples), groups(balanced)
    largest = before.argmax()
    assert after[largest] == before[largest]  # the commonest group is drawn once
    old_women = 8 * 2 + 1
    assert after[old_women] > 2 * before[old_women]
    present = before > 0
    assert (after[present] / after.sum()).std() < (before[present] / before.sum()).std()


@pytest.mark.slow
@needs_utkface
def test_short_run_on_real_faces_learns(project, utkface):
    """200 real faces, four epochs at 16 px in bfloat16: the training loss falls (about 9.0 to 6.3). bfloat16 is
    emulated on CPUs without it (a second a batch of 32 at 32 px on 2 AVX2 cores): 200 faces at 16 px, not 400 at
    32, keep the test near 20 s."""
    config = _config("real", UTKFACE, epochs=4, batch_size=32, limit=200, precision="mixed_bfloat16", input_size=16)
    metrics = training.train(config).metrics
    losses = [float(row["loss"]) for row in _history(project / "face_weights" / "real")]
    assert len(losses) == 4 and losses[-1] < losses[0]
    assert metrics["n_test"] == len(split(utkface[0], limit=200)["test"])


@pytest.mark.slow
def test_a_diverging_run_stops_and_does_not_count_as_finished(project, tiny_utkface):
    """--lr is checked to be positive at parse time; a positive one can still blow up: TerminateOnNaN stops it."""
    with pytest.raises(training.FaceKitError, match=r"training stopped in epoch 1: the loss became (nan|inf) .*"
                                                    r"lower --lr than 1e\+30"):
        training.train(_config("diverged", tiny_utkface, lr=1e30, epochs=5))
    run_dir = project / "face_weights" / "diverged"
    assert len(_history(run_dir)) == 1 and not (run_dir / "metrics.json").exists()


def test_a_checkpoint_that_fills_the_disk_leaves_the_previous_one_whole(tmp_path, monkeypatch):
    model = training.build_model("simple_cnn", input_shape=(32, 32, 3))
    checkpoint = tmp_path / "best.keras"
    model.save(checkpoint)
    before = checkpoint.read_bytes()
    real_save = keras.Model.save

    def fills_the_disk(self, path, *args, **kwargs):
        real_save(self, path, *args, **kwargs)
        with open(path, "r+b") as f:
            f.truncate(1000)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(keras.Model, "save", fills_the_disk)
    callback = callbacks.BestCheckpoint(checkpoint)
    callback.set_model(model)
    with pytest.raises(training.FaceKitError, match=f"cannot write the checkpoint {checkpoint}: No space left"):
        callback.on_epoch_end(0, {"val_loss": 1.0})
    assert checkpoint.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["best.keras"]


@pytest.mark.slow
def test_a_damaged_backup_or_checkpoint_is_named_never_a_silent_restart(project, interrupted_run, capsys):
    run_dir = _copy_of(interrupted_run, project)
    weights, best = run_dir / "backup" / "latest.weights.h5", run_dir / "best.keras"
    kept = {path: path.read_bytes() for path in (weights, best)}

    def resume_fails():
        with pytest.raises(SystemExit) as exit_info:
            face_train.main(["resume", "--run", "interrupted"])
        assert exit_info.value.code == 2
        [line] = capsys.readouterr().err.strip().splitlines()
        return line

    for path, expected in ((weights, f"cannot resume: the run's backup {weights} .*cannot be read"),
                           (best, f"{best} is not a Keras model")):
        path.write_bytes(kept[path][:200])  # cut short, as by a kill in the middle of a write
        assert re.search(expected, resume_fails())
        path.write_bytes(kept[path])
    shutil.move(run_dir / "backup", project / "backup")
    assert "its backup" in resume_fails() and "is gone" in resume_fails()
    shutil.move(project / "backup", run_dir / "backup")
    face_train.main(["--resume", "--run", "interrupted"])  # whole again: it resumes and finishes
    assert [int(r["epoch"]) for r in _history(run_dir)] == [0, 1, 2, 3]


# A training run in its own process, with face_weights/ and logs/ under the folder given first.
# Ctrl+C raises KeyboardInterrupt as in a terminal even when the suite runs in the background, where the shell
# starts it with SIGINT ignored (and Python then installs no handler of its own).
RUN_IN = ("import signal, sys\nfrom pathlib import Path\n"
          "from facekit.core import paths\npaths.PROJECT_ROOT = Path(sys.argv[1])\n"
          "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
          "{setup}import face_train\nface_train.main(sys.argv[2:])\n")
# Killed (SIGKILL) in the middle of writing a checkpoint over an earlier one: after the metadata entry of the .keras
# zip is written, before its config and weights are.
KILL_IN_CHECKPOINT = """import os, signal, zipfile
real_open = zipfile.ZipFile.open
def open_entry(self, name, mode="r", *args, **kwargs):
    if mode == "w" and name == "config.json" and (Path(str(self.filename)).parent / "best.keras").exists():
        os.kill(os.getpid(), signal.SIGKILL)
    return real_open(self, name, mode, *args, **kwargs)
zipfile.ZipFile.open = open_entry
"""


@dataclass
class _Ran:
    """A face_train.py process of the jobs below, ended: the folder it wrote under (its project root, or
    FACEKIT_HOME), its exit status and its stderr."""
    folder: Path
    returncode: int
    stderr: str


def _run(command, folder, env, stop=None, timeout=300):
    """Runs ``command`` (stderr to a file: nobody reads it while it runs) to its end, or ``stop(process)`` first."""
    stderr_file = folder.parent / f"{folder.name}.stderr"
    with open(stderr_file, "w") as stderr:
        process = background.popen(command, cwd=PROJECT, stdout=subprocess.DEVNULL, stderr=stderr, text=True,
                                   env=background.environment(**env))
    if stop is not None:
        stop(process)
    process.wait(timeout=timeout)
    return _Ran(folder, process.returncode, stderr_file.read_text())


def _run_in(folder, run, setup="", stop=None):
    """face_train.py fit in a process of its own under ``folder`` (RUN_IN), up to 30 epochs of tiny synthetic faces."""
    data = folder / "UTKFace"
    write_utkface_folder(data, count=64)
    argv = ["--data", str(data), "--run", run, "--backbone", "simple_cnn", "--weights", "none",
            "--input-size", "32", "--epochs", "30", "--batch-size", "16", "--lr", "3e-3", "--no-augment",
            "--patience", "30", "--precision", "float32"]
    return _run([sys.executable, "-c", RUN_IN.format(setup=setup), str(folder / "project"), *argv],
                folder / "project", {"TF_CPP_MIN_LOG_LEVEL": "3"}, stop)


@background.job("stopped run", tests=["test_training.py::test_ctrl_c_prints_one_line_with_the_resume_command"])
def _stopped_run(folder):
    """Ctrl+C (SIGINT) once the run has finished an epoch (or died, or 240 s passed): the ended process."""
    run_dir = folder / "project" / "face_weights" / "stopped"

    def after_an_epoch(process):
        deadline = time.monotonic() + 240
        while process.poll() is None and time.monotonic() < deadline and not (
                (run_dir / "history.csv").exists() and len(_history(run_dir)) >= 1):  # an epoch has finished
            time.sleep(0.1)
        process.send_signal(signal.SIGINT)
    return _run_in(folder, "stopped", stop=after_an_epoch)


@background.job("killed run", tests=["test_training.py::test_kill_9_while_writing_a_checkpoint"])
def _killed_run(folder):
    return _run_in(folder, "killed", setup=KILL_IN_CHECKPOINT)


@background.job("full disk run", tests=["test_training.py::test_training_onto_a_full_disk"])
def _full_disk_run(folder):
    """face_train.py with a 6 MB tmpfs as FACEKIT_HOME: the first checkpoint or backup fills it. None where it
    cannot be mounted (mount needs root)."""
    small = folder / "small"
    small.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6M", "tmpfs", str(small)],
                                           capture_output=True).returncode != 0:
        return None
    background.at_end(lambda: subprocess.run(["umount", "-l", str(small)], capture_output=True))
    write_utkface_folder(folder / "UTKFace", count=64)
    return _run([sys.executable, "face_train.py", "--data", str(folder / "UTKFace"), "--backbone", "simple_cnn",
                 "--weights", "none", "--input-size", "32", "--epochs", "3", "--batch-size", "16", "--run", "full"],
                small, {"FACEKIT_HOME": str(small)}, timeout=600)


def _resume_to_the_end(run_dir, run, epochs):
    """Resumes in this process for ``epochs`` epochs in all; returns the epochs the resumed part trained."""
    done = len(_history(run_dir))
    face_train.main(["--resume", "--run", run, "--epochs", str(epochs)])
    assert (run_dir / "metrics.json").is_file()
    return [int(row["epoch"]) for row in _history(run_dir)[done:]]


@pytest.mark.slow
def test_ctrl_c_prints_one_line_with_the_resume_command_and_resume_continues(monkeypatch):
    run = background.result("stopped run")  # run and Ctrl+C'd after its first epoch as the session starts
    monkeypatch.setattr(paths, "PROJECT_ROOT", run.folder)  # resumed in this process
    run_dir, err = run.folder / "face_weights" / "stopped", run.stderr
    assert (run_dir / "history.csv").exists() and len(_history(run_dir)) >= 1, err[-2000:]  # stopped after an epoch
    assert run.returncode == 130 and "Traceback" not in err, err[-2000:]
    last = err.strip().splitlines()[-1]
    found = re.fullmatch(r"interrupted after (\d+) finished epoch\(s\) of run 'stopped'; continue with: "
                         r"python face_train\.py resume --run stopped", last)
    assert found, last
    finished = int(found.group(1))
    assert finished >= 1 and finished == fitting_backup_epochs(run_dir)
    assert _resume_to_the_end(run_dir, "stopped", finished + 1) == [finished]  # on from there, not from 0


@pytest.mark.slow
def test_kill_9_while_writing_a_checkpoint_keeps_the_previous_one_and_resume_continues(monkeypatch):
    run = background.result("killed run")  # run and killed as the session starts
    monkeypatch.setattr(paths, "PROJECT_ROOT", run.folder)  # resumed in this process
    run_dir = run.folder / "face_weights" / "killed"
    assert run.returncode == -signal.SIGKILL, run.stderr[-2000:]
    load_model(run_dir / "best.keras")  # the previous checkpoint, whole
    finished = fitting_backup_epochs(run_dir)
    assert finished >= 2  # killed while improving on an earlier epoch's checkpoint
    assert _resume_to_the_end(run_dir, "killed", finished + 1) == [finished]


def fitting_backup_epochs(run_dir):
    return training.RunFolder(run_dir, run_dir).finished_epochs()


def test_mean_variance_loss_adds_the_mean_error_and_the_variance_on_labelled_rows_only():
    import tensorflow as tf
    centres = np.arange(5, dtype=np.float32) * 10  # ages 0, 10, ..., 40
    probs = np.array([[0.0, 0.5, 0.5, 0.0, 0.0], [0.2, 0.2, 0.2, 0.2, 0.2]], np.float32)
    exact = np.array([[0.0, 0.0, 0.0, 1.0, 0.0], [0.0] * 5], np.float32)  # 30 years; no age
    targets = np.concatenate([exact, np.zeros_like(exact)], axis=1)  # no interval labels (pipeline.labels_for)
    loss = losses.MeanVarianceLoss(centres, mean_weight=0.2, variance_weight=0.05, reduction=None)
    values = loss(tf.constant(targets), tf.constant(probs)).numpy()
    # mean 15, true 30: 0.2 * 0.5 * 15^2 = 22.5; variance 25: 0.05 * 25 = 1.25; cross-entropy with 0 at 30: clipped
    cross_entropy = losses.masked_crossentropy(tf.constant(exact), tf.constant(probs)).numpy()
    np.testing.assert_allclose(values, [cross_entropy[0] + 22.5 + 1.25, 0.0], rtol=1e-5)
    assert losses.MeanVarianceLoss.from_config(loss.get_config()).centres == loss.centres


@pytest.mark.slow
def test_a_mean_variance_run_checkpoints_a_model_that_loads(project, tiny_utkface):
    training.train(_config("mv", tiny_utkface, epochs=1, age_loss="mean-variance"))
    saved = json.loads((project / "face_weights" / "mv" / "config.json").read_text())
    assert saved["age_loss"] == "mean-variance"
    assert load_model(project / "face_weights" / "mv" / "best.keras").output_names
    with pytest.raises(training.FaceKitError, match="unknown age loss 'l1'"):
        training.train(_config("bad", tiny_utkface, epochs=1, age_loss="l1"))


def test_resume_refuses_options_it_would_ignore(capsys):
    """--resume ignored --lr 5 --backbone levi_hassner --input-size 227 without a word (issue 28)."""
    with pytest.raises(SystemExit) as exit_info:
        face_train.parse_args(["--resume", "--run", "r", "--lr", "5", "--backbone", "levi_hassner",
                               "--input-size", "227"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "--backbone, --input-size, --lr cannot change (only --epochs can)" in err
    assert face_train.parse_args(["--resume", "--run", "r", "--epochs", "9", "-q"]).epochs == 9


@pytest.mark.slow
def test_training_onto_a_full_disk_is_one_line_and_exit_2():
    """"cannot write the backup ... No space left", two h5py tracebacks, then a segmentation fault, exit 139
    (issue 28): now the one line, exit 2. The run's FACEKIT_HOME is a 6 MB tmpfs (run as the session starts)."""
    run = background.result("full disk run")
    if run is None:
        pytest.skip("mounting a small tmpfs needs root")
    assert run.returncode == 2, run.stderr[-3000:]
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "No space left on device" in errors[0] and "Traceback" not in run.stderr
