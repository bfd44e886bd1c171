"""The console scripts of the commands that need an extra (pyproject.toml): its modules checked before the script
is imported, so that a light install says in one line what to install instead of an ImportError traceback."""
import importlib
import sys
from collections.abc import Callable

from facekit.apps.cli import exit_with_error, run_script
from facekit.apps.train_command import light_command
from facekit.core.errors import FaceKitError
from facekit.core.extras import require


def command(script: str, *modules: str) -> Callable[[], None]:
    """The entry point of ``script``'s ``main``, once ``modules`` are found."""
    def main() -> None:
        try:
            for module in modules:
                require(module, script.replace("_", "-"))
        except FaceKitError as error:
            exit_with_error(error)
        run_script(importlib.import_module(script).main)  # a missing extra above: a plain SystemExit, as tested
    return main


face = command("face", "keras")
face_server = command("face_server", "fastapi", "uvicorn")


def face_train() -> None:
    """face-train: fit and resume need the train extra; evaluate and predict of exported models run without it."""
    command("face_train", *(() if light_command(sys.argv[1:]) else ("keras",)))()
