"""The web service and page: ``python face_server.py``, then http://127.0.0.1:8000/ (the page) and /docs (the API).

``python face_server.py --help`` says more; the work is facekit/apps/server_command.py's.
"""
from facekit.apps.cli import run_script
from facekit.apps.server_command import main, parse_args, server_options

__all__ = ["main", "parse_args", "server_options"]

if __name__ == "__main__":
    run_script(main)
