"""The project's folders, in one place. Each is read when needed, so a test can point PROJECT_ROOT elsewhere.

Two kinds of folder:
- What a checkout ships: the default model (``face_weights/default/`` in a checkout; an installed wheel carries its
  ``.tflite``, ``.tflite.json`` and ``metrics.json`` in ``facekit/default_model/``, copied there by setup.py).
- What runs write: trained runs, TensorBoard logs, caches, downloaded weights. They go under ``home()``: the
  folder ``FACEKIT_HOME`` names; else, in a checkout, the checkout itself (``face_weights/``, ``logs/``,
  ``vggface_weights/``, ``train_data/`` as before); else, after ``pip install``, ``~/.facekit``.
"""
import os
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # facekit/
PROJECT_ROOT = PACKAGE_ROOT.parent  # the checkout, or site-packages after a (non-editable) install
# A checkout (or an editable install of one): pyproject.toml beside the package. Decided once, from where facekit
# lies, so that a test pointing PROJECT_ROOT at a temporary folder still counts as one.
IN_CHECKOUT = (PROJECT_ROOT / "pyproject.toml").is_file()
HOME_VARIABLE = "FACEKIT_HOME"
INSTALLED_HOME = Path("~/.facekit")


def home() -> Path:
    """Where runs, logs, caches and downloaded weights go: $FACEKIT_HOME, else the checkout, else ~/.facekit."""
    if os.environ.get(HOME_VARIABLE):
        return Path(os.environ[HOME_VARIABLE]).expanduser()
    return PROJECT_ROOT if IN_CHECKOUT else INSTALLED_HOME.expanduser()


def face_weights_dir() -> Path:
    """Trained models: face_weights/RUN/best.keras."""
    return home() / "face_weights"


def logs_dir() -> Path:
    """TensorBoard: logs/RUN/."""
    return home() / "logs"


def vggface_weights_dir() -> Path:
    """Published (pretrained) weights files: keras-vggface's .h5, dlib's .dat."""
    return home() / "vggface_weights"


def image_cache_dir() -> Path:
    """Decoded, resized training images, written during the first epoch."""
    return home() / "train_data" / "cache"


def crop_cache_dir() -> Path:
    """Face crops of photo datasets, made once by the demos' detector and crop (facekit.data.crop_cache)."""
    return home() / "train_data" / "crops"


def feature_cache_dir() -> Path:
    """Backbone features for the frozen-backbone fast path."""
    return home() / "train_data" / "features"


# The default model, named in this one place and kept in one folder, DEFAULT_MODEL_FOLDER of the checkout:
# NAME.keras as trained, NAME.tflite and NAME.tflite.json exported from it (``face.py --export``), metrics.json its
# test-split scores. The demos and facekit.analyze use NAME.tflite when no model is given. Swapping the default: put
# the new files there, change this name, export again. Building a wheel (setup.py) copies the PACKAGED_SUFFIXES
# files and metrics.json into the package, as facekit/default_model/; the .keras stays out of it.
DEFAULT_MODEL_NAME = "dlib_resnet_150px"
DEFAULT_MODEL_FOLDER = Path("face_weights", "default")  # relative to the checkout
PACKAGED_SUFFIXES = (".tflite", ".tflite.json")
PACKAGED_DEFAULT_MODEL = PACKAGE_ROOT / "default_model"  # in an installed wheel only


def default_model(suffix: str = ".tflite") -> Path:
    """The shipped default model: its exported ``.tflite`` (what the demos run), or ``suffix=".keras"`` (a
    checkout's only). The checkout's file; after a non-editable install, the copy in the package."""
    file_name = f"{DEFAULT_MODEL_NAME}{suffix}"
    in_checkout = PROJECT_ROOT / DEFAULT_MODEL_FOLDER / file_name
    packaged = PACKAGED_DEFAULT_MODEL / file_name
    return packaged if not in_checkout.exists() and packaged.exists() else in_checkout


def shared_dir() -> Path:
    """Real test and benchmark data (UTKFace, detector models): ../shared beside the project root, or the folder
    that FACEKIT_SHARED names. Read-only; never copied into the project."""
    return Path(os.environ.get("FACEKIT_SHARED", PROJECT_ROOT.parent / "shared"))
