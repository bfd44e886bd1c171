"""The project's folders, in one place. Each is read when needed, so a test can point PROJECT_ROOT elsewhere."""
import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def face_weights_dir():
    """Trained models: face_weights/RUN/best.keras."""
    return PROJECT_ROOT / "face_weights"


def logs_dir():
    """TensorBoard: logs/RUN/."""
    return PROJECT_ROOT / "logs"


def vggface_weights_dir():
    """Published (pretrained) weights files: keras-vggface's .h5, dlib's .dat."""
    return PROJECT_ROOT / "vggface_weights"


def image_cache_dir():
    """Decoded, resized training images, written during the first epoch."""
    return PROJECT_ROOT / "train_data" / "cache"


def crop_cache_dir():
    """Face crops of photo datasets, made once by the demos' detector and crop (facekit.crop_cache)."""
    return PROJECT_ROOT / "train_data" / "crops"


def feature_cache_dir():
    """Backbone features for the frozen-backbone fast path."""
    return PROJECT_ROOT / "train_data" / "features"


# The default model, named in this one place: face_weights/default/NAME.keras as trained, NAME.tflite exported from
# it (``face.py --export``), which the demos and facekit.analyze use when no model is given. Swapping the default:
# put the new NAME.keras there, change this name, export it again.
DEFAULT_MODEL_NAME = "dlib_resnet_150px"


def default_model(suffix=".tflite"):
    """The shipped default model: its exported ``.tflite`` (what the demos run), or ``suffix=".keras"``."""
    return face_weights_dir() / "default" / f"{DEFAULT_MODEL_NAME}{suffix}"


def shared_dir():
    """Real test and benchmark data (UTKFace, detector models): ../shared beside the project root, or the folder
    that FACEKIT_SHARED names. Read-only; never copied into the project."""
    return Path(os.environ.get("FACEKIT_SHARED", PROJECT_ROOT.parent / "shared"))
