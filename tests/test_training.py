"""face_train.py on real UTKFace: reader, split, pipeline, a short training run, evaluation, resume, errors."""
import csv
import json
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import face_train
from facekit import hardware, paths, training
from facekit.data import oversample_rare_ages, split
from facekit.datasets import read_dataset
from facekit.images import read_image
from facekit.labels import AgeBins
from facekit.model import feature_extractor, predict_batches
from facekit.pipeline import Augmentation, _mixup, augment, decode_resize, image_batches, labels_for, make_dataset
from tests.shared_data import UTKFACE, needs_utkface

pytestmark = needs_utkface
MALFORMED = {"39_1_20170116174525125.jpg.chip.jpg", "61_1_20170109142408075.jpg.chip.jpg",
             "61_1_20170109150557335.jpg.chip.jpg"}


@pytest.fixture(scope="module")
def utkface():
    messages = []
    samples = read_dataset(UTKFACE, log=messages.append)
    return samples, messages


@pytest.fixture
def project(tmp_path, monkeypatch):
    """Runs, logs and caches go to a temporary project root, not the real face_weights/."""
    monkeypatch.setattr(paths, "PROJECT_ROOT", tmp_path)
    return tmp_path


def test_reader_counts_and_malformed_names(utkface):
    samples, messages = utkface
    assert len(samples) == 23_708 - 3
    assert np.bincount(samples.genders).tolist() == [12_391, 11_314]
    assert np.bincount(samples.races).tolist() == [10_078, 4_526, 3_434, 3_975, 1_692]
    assert samples.ages.min() == 1 and samples.ages.max() == 116
    skipped = messages[0]
    assert skipped.startswith("skipped 3 file(s)") and all(name in skipped for name in MALFORMED)
    assert "White 10078" in messages[1]


def test_pipeline_batches_keep_labels_with_their_images(utkface):
    samples = split(utkface[0], limit=48)["train"]
    size, bins = 32, AgeBins()
    decoded = {i: decode_resize(p, size).numpy().round() for i, p in enumerate(samples.paths)}
    labels = labels_for(samples, bins, age_sigma=0.0)
    ds = make_dataset(samples, labels, size, batch_size=8, training=True, augmentation=Augmentation.off(), seed=3)
    seen = 0
    for images, y in ds:
        assert images.dtype == "float32" and images.shape[1:] == (size, size, 3)
        assert y["age"].shape[1] == 101 and y["gender"].shape[1] == 2 and y["race"].shape[1] == 5
        for image, age, gender, race in zip(images.numpy(), y["age"].numpy(), y["gender"].numpy(), y["race"].numpy()):
            match = min(decoded, key=lambda i: np.abs(decoded[i] - image).mean())
            assert np.abs(decoded[match] - image).max() < 0.01
            assert (age.argmax(), gender.argmax(), race.argmax()) == (
                bins.to_bin(samples.ages[match]), samples.genders[match], samples.races[match])
            seen += 1
    assert seen == len(samples)


def test_pipeline_reads_images_as_the_demos_do(tmp_path):
    """One reader: EXIF orientation is honoured in training too."""
    pixels = np.full((40, 80, 3), 255, np.uint8)
    pixels[:, :40] = 0  # landscape, left half black; EXIF says: rotate 90 degrees clockwise to view
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(pixels).save(tmp_path / "rotated.jpg", exif=exif)
    decoded = decode_resize(str(tmp_path / "rotated.jpg"), 32).numpy()
    upright = tf.image.resize(read_image(tmp_path / "rotated.jpg").astype(np.float32), (32, 32), antialias=True)
    np.testing.assert_allclose(decoded, upright.numpy(), atol=1e-3)
    assert decoded[:12].mean() < 30 and decoded[20:].mean() > 225  # the black half on top, as in the demos


def test_mixup_mixes_images_and_labels_with_the_same_weights():
    values = tf.constant([0.0, 60.0, 120.0, 240.0])
    images = tf.ones((4, 8, 8, 3)) * values[:, None, None, None]
    labels = {"gender": tf.stack([values / 255.0, 1 - values / 255.0], axis=1)}
    mixed_images, mixed_labels = _mixup(images, labels, alpha=0.4)
    pixel = mixed_images.numpy()[:, 0, 0, 0]
    np.testing.assert_allclose(mixed_images.numpy(), pixel[:, None, None, None] * np.ones((4, 8, 8, 3)), atol=1e-3)
    np.testing.assert_allclose(mixed_labels["gender"].numpy()[:, 0] * 255.0, pixel, atol=1e-3)


def test_near_zero_augmentation_is_the_identity(utkface):
    image = decode_resize(split(utkface[0], limit=20)["train"].paths[0], 48)[None]  # a batch of one
    tiny = Augmentation(flip=False, rotation=1e-4, scale=1e-6, shift=1e-6, brightness=0.0, contrast=0.0, erase=0.0)
    np.testing.assert_allclose(augment(image, tiny, 48).numpy(), image.numpy(), atol=0.5)
    np.testing.assert_array_equal(augment(image, Augmentation.off(), 48).numpy(), image.numpy())
    rotation = Augmentation(flip=False, rotation=30, scale=0, shift=0, brightness=0, contrast=0, erase=0)
    # The angle is uniform in +-30 degrees, so one draw may be tiny; the largest of eight is not.
    changes = [np.abs(augment(image, rotation, 48).numpy() - image.numpy()).mean() for _ in range(8)]
    assert max(changes) > 5  # a real rotation does change the image


def test_batched_augmentation_draws_for_each_image(utkface):
    image = decode_resize(split(utkface[0], limit=20)["train"].paths[0], 48)
    batch = augment(tf.stack([image] * 8), Augmentation(flip=False, erase=0.0), 48).numpy()
    assert batch.shape == (8, 48, 48, 3) and batch.min() >= 0 and batch.max() <= 255
    # Eight copies of one face, eight different warps and colour changes: no two outputs alike.
    differences = [np.abs(batch[i] - batch[j]).mean() for i in range(8) for j in range(i + 1, 8)]
    assert min(differences) > 0.5


def test_training_precision_is_restored_even_when_the_block_fails():
    with pytest.raises(RuntimeError):
        with hardware.training_precision("mixed_bfloat16", log=lambda m: None):
            assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
            raise RuntimeError("a build that fails, such as an invalid --freeze")
    assert keras.mixed_precision.global_policy().name == "float32"


def test_precision_choice():
    assert hardware.choose_precision("auto", gpus=["GPU:0"]) == "mixed_float16"
    assert hardware.choose_precision("auto", gpus=[]) in ("mixed_bfloat16", "float32")
    assert hardware.choose_precision("float32", gpus=["GPU:0"]) == "float32"


def test_augmentation_and_mixup_keep_targets_valid(utkface):
    samples = split(utkface[0], limit=64)["train"]
    ds = make_dataset(samples, labels_for(samples, AgeBins(), 2.0), 32, 16, training=True,
                      augmentation=Augmentation(mixup=0.4), seed=0)
    images, y = next(iter(ds))
    assert np.isfinite(images.numpy()).all()
    for name in ("age", "gender", "race"):
        np.testing.assert_allclose(y[name].numpy().sum(axis=1), 1.0, rtol=1e-5)
    # Mixup with alpha 0.4 almost surely leaves some gender target strictly between 0 and 1.
    assert ((y["gender"].numpy() > 0.01) & (y["gender"].numpy() < 0.99)).any()


def _config(run, **overrides):
    settings = dict(data=str(UTKFACE), run=run, backbone="simple_cnn", weights=None, input_size=32, epochs=4,
                    batch_size=32, limit=400, patience=10, augmentation=training.asdict(Augmentation.off()))
    return training.TrainConfig(**{**settings, **overrides})


def _history(run_dir):
    with open(run_dir / "history.csv") as f:
        return list(csv.DictReader(f))


def test_short_training_run_writes_everything_and_learns(project):
    metrics = training.train(_config("short", lr=3e-3, precision="mixed_bfloat16"), log=lambda m: None)
    run_dir = project / "face_weights" / "short"
    assert (run_dir / "best.keras").is_file()
    # Trained in mixed precision, saved in float32 so that inference needs no bf16 support.
    saved_model = keras.saving.load_model(run_dir / "best.keras")
    assert {w.dtype for w in saved_model.weights} == {"float32"}
    assert keras.mixed_precision.global_policy().name == "float32"
    assert list((project / "logs" / "short").rglob("events.out.tfevents.*"))
    saved = json.loads((run_dir / "metrics.json").read_text())
    for key in ("age_mae", "age_cs5", "age_group_exact", "age_group_1off", "gender_acc", "race_acc", "n_test"):
        assert key in saved
    assert saved == metrics and saved["n_test"] == len(split(read_dataset(UTKFACE, log=lambda m: None), limit=400)["test"])
    for plot in ("confusion_gender.png", "confusion_race.png", "confusion_age_group.png", "age_mae_by_decade.png"):
        assert (run_dir / plot).stat().st_size > 1000
    losses = [float(row["loss"]) for row in _history(run_dir)]
    assert len(losses) == 4 and losses[-1] < losses[0]
    assert json.loads((run_dir / "split.json").read_text())["test"] == split(
        read_dataset(UTKFACE, log=lambda m: None), limit=400)["test"].names

    # --evaluate on the saved model reproduces the test metrics.
    output = project / "eval" / "metrics.json"
    face_train.main(["--evaluate", str(run_dir / "best.keras"), "--data", str(UTKFACE), "--limit", "400",
                     "--output", str(output)])
    again = json.loads(output.read_text())
    for key in ("age_mae", "gender_acc", "race_acc", "age_group_exact", "n_test"):
        assert again[key] == pytest.approx(saved[key], abs=1e-3)

    # The run now holds a checkpoint: reusing its name without --resume is refused.
    with pytest.raises(SystemExit) as exit_info:
        face_train.main(["--data", str(UTKFACE), "--run", "short", "--backbone", "simple_cnn", "--weights", "none"])
    assert exit_info.value.code == 2


class _Interrupt(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            raise KeyboardInterrupt("simulated interruption")


def test_resume_continues_from_the_saved_epoch(project, monkeypatch):
    config = _config("resumable")
    original = training.callbacks
    monkeypatch.setattr(training, "callbacks", lambda *args, **kwargs: original(*args, **kwargs) + [_Interrupt()])
    with pytest.raises(KeyboardInterrupt):
        training.train(config, log=lambda m: None)
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


def test_frozen_backbone_trains_heads_on_cached_features(project):
    config = _config("cached", freeze="all", epochs=2)
    training.train(config, log=lambda m: None)
    cache = list((project / "train_data" / "features").glob("*.npz"))
    assert len(cache) == 1
    model = keras.saving.load_model(project / "face_weights" / "cached" / "best.keras", compile=False)
    # The saved model's backbone is the one that made the cached features.
    parts = split(read_dataset(UTKFACE, log=lambda m: None), limit=400)
    recomputed = predict_batches(feature_extractor(model).predict_on_batch, image_batches(parts["val"], 32, 32))
    with np.load(cache[0]) as cached:
        np.testing.assert_allclose(recomputed, cached["val"], rtol=1e-4, atol=1e-5)
        assert len(cached["train_flip"]) == len(parts["train"])


@pytest.mark.parametrize("argv,message", [
    (["--data", "/nonexistent/folder"], "data not found"),
    (["--data", "EMPTY"], "no images in"),
    (["--data", "UNNAMED"], "has a UTKFace name"),
    (["--data", str(UTKFACE), "--backbone", "simple_cnn", "--weights", "none", "--freeze", "conv9", "--limit", "300"],
     "invalid freeze value"),
    (["--data", str(UTKFACE), "--backbone", "simple_cnn", "--weights", "vggface2"], "no pretrained weights"),
    (["--data", "/nonexistent/folder", "--backbone", "simple_cnn", "--input-size", "8"],
     "input size 8x8 is too small for simple_cnn: it needs at least 16 pixels a side"),
])
def test_cli_errors_are_one_line(argv, message, project, capsys):
    (project / "EMPTY").mkdir()
    (project / "UNNAMED").mkdir()
    shutil.copy(next(UTKFACE.iterdir()), project / "UNNAMED" / "holiday.jpg")
    argv = [str(project / a) if a in ("EMPTY", "UNNAMED") else a for a in argv]
    with pytest.raises(SystemExit) as exit_info:
        face_train.main(argv + ["--epochs", "1"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and message in err[-1]


def test_oversampling_repeats_rare_age_decades(utkface):
    samples = split(utkface[0])["train"]
    balanced = oversample_rare_ages(samples)
    before = np.bincount(np.minimum(samples.ages // 10, 9), minlength=10)
    after = np.bincount(np.minimum(balanced.ages // 10, 9), minlength=10)
    assert after[2] == before[2]  # the commonest decade (20s) is not repeated
    assert after[8] == 4 * before[8] and after[6] > before[6]  # the old are
    assert (after / after.sum()).std() < (before / before.sum()).std()
    assert set(balanced.names) == set(samples.names)  # repeats only, nothing new, nothing dropped
