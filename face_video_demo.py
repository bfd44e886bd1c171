"""Age, gender and race on a webcam or a video file, live in a window and/or written to a video file.

    python face_video_demo.py --source 0                                  # webcam 0, in a window; q quits
    python face_video_demo.py --source clip.mp4 --output clip_annotated.mp4 --no-display --every 3
    python face_video_demo.py --source 0 --smooth                        # labels averaged over each face's track

The output video has the input's frame size and frame rate (mp4v). Without a display (or with
opencv-python-headless, as requirements.txt installs) frames are only written, so --output is then required.
Exit status: 0 done; 1 a video file that ended before the frames its header promises (truncated; what could be
read is written, and a warning says how many); 2 an error (missing file, camera that cannot be opened, an output
that cannot be written, ...), told in one line on stderr.
"""
from facekit.apps.cli import run_script
from facekit.apps.video_command import main, parse_args

__all__ = ["main", "parse_args"]

if __name__ == "__main__":
    run_script(main)
