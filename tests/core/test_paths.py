"""Where things go: runs, logs, caches and weights under one home (FACEKIT_HOME, else the checkout, else
~/.facekit once installed); the default model from the checkout, else from the package."""
from pathlib import Path

from facekit.core import paths


def test_a_checkout_keeps_its_folders_and_facekit_home_moves_them(monkeypatch, tmp_path):
    assert paths.IN_CHECKOUT and paths.home() == paths.PROJECT_ROOT
    assert paths.face_weights_dir() == paths.PROJECT_ROOT / "face_weights"
    monkeypatch.setenv("FACEKIT_HOME", str(tmp_path / "home"))
    assert paths.face_weights_dir() == tmp_path / "home" / "face_weights"
    assert paths.logs_dir() == tmp_path / "home" / "logs"
    assert paths.vggface_weights_dir() == tmp_path / "home" / "vggface_weights"
    assert paths.image_cache_dir() == tmp_path / "home" / "train_data" / "cache"
    assert paths.feature_cache_dir() == tmp_path / "home" / "train_data" / "features"
    assert paths.default_model().parent == paths.PROJECT_ROOT / paths.DEFAULT_MODEL_FOLDER  # the checkout's still


def test_an_install_defaults_to_a_home_folder(monkeypatch):
    monkeypatch.setattr(paths, "IN_CHECKOUT", False)
    assert paths.home() == Path("~/.facekit").expanduser()


def test_the_default_model_is_the_checkouts_else_the_packaged_copy(monkeypatch, tmp_path):
    name = f"{paths.DEFAULT_MODEL_NAME}.tflite"
    assert paths.default_model() == paths.PROJECT_ROOT / "face_weights" / "default" / name
    assert paths.default_model().is_file() and paths.default_model(".keras").is_file()
    monkeypatch.setattr(paths, "PROJECT_ROOT", tmp_path / "site-packages")
    monkeypatch.setattr(paths, "PACKAGED_DEFAULT_MODEL", tmp_path / "facekit" / "default_model")
    assert paths.default_model() == tmp_path / "site-packages" / "face_weights" / "default" / name  # neither: named
    paths.PACKAGED_DEFAULT_MODEL.mkdir(parents=True)
    (paths.PACKAGED_DEFAULT_MODEL / name).write_bytes(b"model")
    assert paths.default_model() == paths.PACKAGED_DEFAULT_MODEL / name
