"""The project's folders, in one place. Each is read when needed, so a test can point PROJECT_ROOT elsewhere."""
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def face_weights_dir():
    """Trained models: face_weights/RUN/best.keras."""
    return PROJECT_ROOT / "face_weights"


def logs_dir():
    """TensorBoard: logs/RUN/."""
    return PROJECT_ROOT / "logs"


def vggface_weights_dir():
    """keras-vggface's published weights file."""
    return PROJECT_ROOT / "vggface_weights"


def image_cache_dir():
    """Decoded, resized training images, written during the first epoch."""
    return PROJECT_ROOT / "train_data" / "cache"


def feature_cache_dir():
    """Backbone features for the frozen-backbone fast path."""
    return PROJECT_ROOT / "train_data" / "features"
