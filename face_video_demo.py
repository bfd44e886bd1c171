"""Age, gender and race on a webcam or a video file: ``python face_video_demo.py --source 0`` (a window; q quits).

``python face_video_demo.py --help`` says more; the work is facekit/apps/video_command.py's.
"""
from facekit.apps.cli import run_script
from facekit.apps.video_command import main, parse_args

__all__ = ["main", "parse_args"]

if __name__ == "__main__":
    run_script(main)
