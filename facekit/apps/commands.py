"""The console scripts of the commands that need an extra (pyproject.toml): its modules checked before the script
is imported, so that a light install says in one line what to install instead of an ImportError traceback."""
import importlib

from facekit.apps.cli import exit_with_error, run_script
from facekit.core.errors import FaceKitError
from facekit.core.extras import require


def command(script, *modules):
    """The entry point of ``script``'s ``main``, once ``modules`` are found."""
    def main():
        try:
            for module in modules:
                require(module, script.replace("_", "-"))
        except FaceKitError as error:
            exit_with_error(error)
        run_script(importlib.import_module(script).main)  # a missing extra above: a plain SystemExit, as tested
    return main


face = command("face", "keras")
face_train = command("face_train", "keras")
face_server = command("face_server", "fastapi", "uvicorn")
