"""The console scripts (pyproject.toml): each runs its command's module in facekit.apps, after checking the extra it
needs, so that a light install says in one line what to install instead of an ImportError traceback."""
import importlib
import sys
from collections.abc import Callable

from facekit.apps.cli import exit_with_error, run_script
from facekit.apps.train_command import light_command
from facekit.core.errors import FaceKitError
from facekit.core.extras import require


def command(name: str, module: str, *extras: str) -> Callable[[], None]:
    """The entry point ``name``: ``module``'s ``main``, once the modules ``extras`` are found."""
    def main() -> None:
        try:
            for extra in extras:
                require(extra, name)
        except FaceKitError as error:
            exit_with_error(error)
        run_script(importlib.import_module(module).main)  # a missing extra above: a plain SystemExit, as tested
    return main


face = command("face", "facekit.apps.model_command", "keras")
face_demo = command("face-demo", "facekit.apps.demo_command")
face_video_demo = command("face-video-demo", "facekit.apps.video_command")
face_server = command("face-server", "facekit.apps.server_command", "fastapi", "uvicorn")


def face_train() -> None:
    """face-train: fit and resume need the train extra; evaluate and predict of exported models run without it."""
    command("face-train", "facekit.apps.train_command", *(() if light_command(sys.argv[1:]) else ("keras",)))()
