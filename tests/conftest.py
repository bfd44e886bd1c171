"""Fixtures shared by several test files: real faces on a canvas, a tiny model, a tiny synthetic UTKFace."""
import pytest

from tests.face_scenes import four_faces
from tests.shared_data import UTKFACE
from tests.synthetic_faces import write_utkface_folder


@pytest.fixture(scope="session")
def four_faces_scene():
    """(image, placed boxes): four real faces on a 1000x700 gray canvas."""
    if not UTKFACE.is_dir():
        pytest.skip(f"UTKFace not found at {UTKFACE}")
    return four_faces()


@pytest.fixture(scope="session")
def tiny_model_file(tmp_path_factory):
    """An untrained simple_cnn model with 64x64 inputs, saved as .keras: the demos' plumbing, not accuracy."""
    from facekit.model import build_model
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    build_model("simple_cnn", input_shape=(64, 64, 3)).save(path)
    return path


@pytest.fixture(scope="session")
def tiny_utkface(tmp_path_factory):
    """A folder of 64 tiny synthetic JPEGs with UTKFace names (tests/synthetic_faces.py): runs without ../shared."""
    folder = tmp_path_factory.mktemp("data") / "UTKFace"
    write_utkface_folder(folder, count=64)
    return folder
