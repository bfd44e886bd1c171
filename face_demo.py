"""Finds every face in photos, estimates age, gender and race, and writes annotated copies:
``python face_demo.py photo.jpg`` -> annotated/photo_annotated.jpg; a folder of photos, --jsonl for a library.

``python face_demo.py --help`` says more; the work is facekit/apps/demo_command.py's.
"""
from facekit.apps.cli import run_script
from facekit.apps.demo_command import main, parse_args

__all__ = ["main", "parse_args"]

if __name__ == "__main__":
    run_script(main)
