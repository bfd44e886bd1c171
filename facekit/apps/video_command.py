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
import argparse
import logging
import sys

import cv2

from facekit.apps.cli import (
    add_analyzer_arguments,
    analyzer_from_options,
    analyzer_options,
    exit_with_error,
    past_weight,
    positive_int,
    setup_logging,
)
from facekit.apps.video import annotate_video, display_available, open_capture
from facekit.core.errors import FaceKitError
from facekit.core.outputs import check_output
from facekit.vision.region_search import FULL_EVERY

info = logging.getLogger("facekit.face_video_demo").info  # shown as print did, and not with -q

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", required=True, help="webcam index (0, 1, ...) or video file")
    parser.add_argument("--output", default=None, metavar="FILE", help="write the annotated video here (.mp4)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --output file")
    parser.add_argument("--no-display", action="store_true", help="do not show a window")
    parser.add_argument("--every", type=positive_int, default=1, metavar="N",
                        help="analyse every N-th frame, reusing its results in between (default: 1)")
    parser.add_argument("--full-every", type=positive_int, default=1, metavar="N",
                        help="search an analysed frame whole every N frames (and when a face is lost), else only "
                             f"around the faces found a frame before (default: 1, every frame whole; {FULL_EVERY}: "
                             "about twice the frame rate, ages within about a year of the whole-frame search's on "
                             "average, up to 6 on some frames: benchmarks/RESULTS.md, Detect less)")
    parser.add_argument("--smooth", type=past_weight, nargs="?", const=0.8, default=None, metavar="S",
                        help="smooth each tracked face's age, gender and race over frames: S is the weight of the "
                             "past, 0-1 (default 0.8 when given without a value)")
    add_analyzer_arguments(parser)
    return parser.parse_args(argv)


def check_arguments(args: argparse.Namespace) -> None:
    if args.output is not None:  # never the input, never an existing file unless --overwrite, a writable folder
        check_output(args.output, "--output", [] if args.source.isdigit() else [args.source], args.overwrite)


def run(args: argparse.Namespace) -> int:
    check_arguments(args)
    display = not args.no_display and display_available()
    if not display:
        if args.output is None:
            raise FaceKitError("no display available here (or --no-display): pass --output FILE to save the video")
        if not args.no_display:
            info(f"no display available (OpenCV without GUI or no screen): writing {args.output} only")
    analyzer = analyzer_from_options(analyzer_options(args))
    capture, what = open_capture(args.source)
    promised = 0 if args.source.isdigit() else int(capture.get(cv2.CAP_PROP_FRAME_COUNT))  # the file's header
    info(f"reading {what}" + ("; press q in the window to stop" if display else ""))
    frames, analysed, fps = annotate_video(analyzer, capture, args.output, display, args.every, args.smooth,
                                           live=args.source.isdigit(), full_every=args.full_every)
    written = f" -> {args.output}" if args.output else ""
    info(f"{frames} frames ({analysed} analysed) at {fps:.1f} frames per second{written}")
    if frames < promised and not display:  # with a window, q may have ended it
        print(f"warning: {args.source}: its header promises {promised} frames, {frames} could be read (the file "
              "may be truncated)", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    setup_logging(args)
    try:
        status = run(args)
    except FaceKitError as error:
        exit_with_error(error)
    except KeyboardInterrupt:  # Ctrl+C on a webcam: the capture and writer were released on the way out
        print("stopped")
        status = 0
    sys.exit(status)

