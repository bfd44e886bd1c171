"""Fixtures shared by several test files: a real face on a canvas, a tiny model, a tiny synthetic UTKFace, the real
UTKFace read once; the hooks that start the background jobs the selected tests need (tests/background.py)."""
import functools
import http.server
import socket
import threading

import pytest

from tests import background
from tests.face_scenes import four_faces
from tests.logged import logged_messages
from tests.shared_data import UTKFACE
from tests.synthetic_faces import write_utkface_folder


def pytest_collection_finish(session):
    """Starts the background jobs (tests/background.py) that the selected tests need."""
    if not session.config.option.collectonly:
        background.start([item.nodeid for item in session.items])


def pytest_sessionfinish(session):
    background.finish()


@pytest.fixture(autouse=True)
def no_facekit_home(monkeypatch):
    """Runs, logs and caches go where each test points paths.PROJECT_ROOT, whatever FACEKIT_HOME the shell sets."""
    monkeypatch.delenv("FACEKIT_HOME", raising=False)


@pytest.fixture
def project(tmp_path, monkeypatch):
    """Runs, logs and caches go to a temporary project root, not the real face_weights/."""
    from facekit.core import paths
    monkeypatch.setattr(paths, "PROJECT_ROOT", tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def four_faces_scene():
    """(image, placed boxes): four real faces (the repository's, tests/fixtures/) on a 1000x700 gray canvas."""
    return four_faces()


@pytest.fixture(scope="session")
def tiny_model_file(tmp_path_factory):
    """An untrained simple_cnn model with 64x64 inputs, saved as .keras: the demos' plumbing, not accuracy."""
    from facekit.backbones.model import build_model
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    build_model("simple_cnn", input_shape=(64, 64, 3)).save(path)
    return path


@pytest.fixture(scope="session")
def tiny_utkface(tmp_path_factory):
    """A folder of 64 tiny synthetic JPEGs with UTKFace names (tests/synthetic_faces.py): runs without ../shared."""
    folder = tmp_path_factory.mktemp("data") / "UTKFace"
    write_utkface_folder(folder, count=64)
    return folder


@pytest.fixture(scope="session")
def utkface_read():
    """(samples, the messages logged while reading): the real UTKFace of ../shared, read_dataset(UTKFACE) once for
    the tests that split it themselves (reading opens each of its 23,705 images: seconds). Skips without it."""
    if not UTKFACE.is_dir():
        pytest.skip(f"UTKFace not found at {UTKFACE}")
    from facekit.data.datasets import read_dataset
    with logged_messages() as messages:
        samples = read_dataset(UTKFACE)
    return samples, messages


@pytest.fixture
def served(tmp_path):
    """A local HTTP server over tmp_path/www: (directory, base URL)."""
    www = tmp_path / "www"
    www.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(www)))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield www, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def silent_server():
    """A URL on 127.0.0.1 whose server accepts connections and never answers: a network that hangs."""
    listener = socket.create_server(("127.0.0.1", 0))
    held = []

    def accept():
        while True:
            try:
                held.append(listener.accept()[0])
            except OSError:  # closed
                return

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()
    for connection in held:
        connection.close()
