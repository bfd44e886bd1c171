"""Optional dependencies: a missing one is a one-line FaceKitError naming the extra that installs it."""
import importlib
import importlib.util
from types import ModuleType

from facekit.core.errors import FaceKitError

# What each optional module comes with (pyproject.toml's extras).
EXTRAS = {"onnxruntime": "onnx", "keras": "train", "tensorflow": "train", "mtcnn": "train", "fastapi": "server",
          "uvicorn": "server", "distributed": "cluster"}


def require(module: str, needed_for: str) -> ModuleType:
    """``importlib.import_module(module)``; when it (or a module of the same extra that it imports) is not
    installed, FaceKitError: "NEEDED_FOR needs MODULE, which is not installed: pip install .[EXTRA]"."""
    extra = EXTRAS[module]
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        missing = (error.name or "").split(".")[0]
        if missing != module and EXTRAS.get(missing) != extra:
            raise  # another missing module: not this extra's to name
        raise FaceKitError(f"{needed_for} needs {missing}, which is not installed: pip install .[{extra}]") from error


def check_installed(module: str, needed_for: str, *also: str) -> None:
    """The FaceKitError ``require`` would raise, without importing anything (so without TensorFlow's seconds):
    for options checked before the slow work. ``also``: modules of the same extra it needs too."""
    for name in (module, *also):
        if importlib.util.find_spec(name) is None:
            raise FaceKitError(f"{needed_for} needs {name}, which is not installed: pip install .[{EXTRAS[module]}]")
