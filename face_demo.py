"""Finds every face in photos, estimates age, gender and race, and writes annotated copies.

    python face_demo.py photo.jpg                      # -> annotated/photo_annotated.jpg
    python face_demo.py photos/ more.png --json faces.json
    python face_demo.py photo.jpg --output out.jpg --detector yunet --detector-model face_detection_yunet_2023mar.onnx

Annotated images go to the folder ``--output`` (default ``annotated/``) as NAME_annotated.EXT, or to the file
``--output`` when it names an image file and there is one input. Existing files are never replaced unless
``--overwrite`` is given, and an input never is. A folder's images are read by extension (not recursively).

Exit status: 0 all images annotated; 1 some images could not be read or written (each is reported, the others
are written); 2 nothing done: a missing input, model or detector file, or another error in the command (one line
on stderr).
"""
import argparse
import json
import sys
from pathlib import Path

import cv2
from tqdm import tqdm

from facekit.apps.cli import (
    add_analyzer_arguments,
    allow_large_images,
    analyzer_from_args,
    exit_with_error,
    setup_logging,
)
from facekit.apps.photos import annotate_image, check_outputs, output_paths
from facekit.core.errors import FaceKitError
from facekit.core.outputs import write_text
from facekit.vision.images import find_images

DEFAULT_OUTPUT = Path("annotated")


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", metavar="IMAGE_OR_FOLDER")
    add_analyzer_arguments(parser)
    parser.add_argument("--output", default=DEFAULT_OUTPUT, help=f"folder or image file (default: {DEFAULT_OUTPUT}/)")
    parser.add_argument("--json", default=None, metavar="FILE", help="also write every face's box and predictions")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    return parser.parse_args(argv)


def run(args):
    """Annotates every input; returns the exit status (0, or 1 when some images could not be read)."""
    images = find_images(args.inputs)
    outputs = output_paths(images, args.output)
    check_outputs(outputs, args.json, images, args.overwrite)
    analyzer = analyzer_from_args(args)
    entries, failed = [], 0
    for image_path, output_path in tqdm(list(zip(images, outputs)), unit="image", disable=len(images) == 1):
        try:
            entry, summary = annotate_image(analyzer, image_path, output_path)
        except (FaceKitError, cv2.error) as error:  # one bad file must not stop a folder
            failed += 1
            entries.append({"image": str(image_path), "error": str(error)})
            tqdm.write(f"error: {error}", file=sys.stderr)
            continue
        entries.append(entry)
        tqdm.write(summary)
    status = 1 if failed else 0
    if failed:
        print(failure_summary(failed, len(images)), file=sys.stderr)
    if args.json:
        try:
            write_text(args.json, json.dumps(entries, indent=2) + "\n")
        except FaceKitError as error:  # the images are written by now: exit 1, not 2 ("nothing done")
            print(f"error: {error}", file=sys.stderr)
            return 1
        print(f"wrote {args.json}")
    return status


def failure_summary(failed, total):
    if total == 1:
        return "the image could not be annotated"
    if failed == total:
        return f"none of the {total} images could be annotated"
    return f"{failed} of {total} images could not be annotated ({total - failed} were)"


def main(argv=None):
    args = parse_args(argv)
    setup_logging(args)
    allow_large_images()
    try:
        status = run(args)
    except FaceKitError as error:
        exit_with_error(error)
    sys.exit(status)


if __name__ == "__main__":
    main()
