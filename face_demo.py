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

from facekit.cli import add_analyzer_arguments, allow_large_images, analyzer_from_args, exit_with_error
from facekit.drawing import annotate_photo
from facekit.errors import FaceKitError
from facekit.images import IMAGE_EXTENSIONS, find_images, read_image, write_image

DEFAULT_OUTPUT = Path("annotated")


def output_paths(images, output):
    """Where each input's annotated copy goes: one file named by ``output``, or NAME_annotated.EXT in a folder."""
    output = Path(output)
    if output.suffix.lower() in IMAGE_EXTENSIONS:
        if len(images) != 1:
            raise FaceKitError(f"--output {output} is a file name, but there are {len(images)} input images; "
                               "give a folder instead")
        return [output]
    paths, taken = [], set()
    for image in images:
        stem, suffix = f"{image.stem}_annotated", image.suffix.lower()
        path, copy = output / f"{stem}{suffix}", 1
        while path in taken:  # same name from two folders: photo_annotated_2.jpg
            copy += 1
            path = output / f"{stem}_{copy}{suffix}"
        taken.add(path)
        paths.append(path)
    return paths


def check_writable(paths, inputs, overwrite):
    input_files = {path.resolve() for path in inputs}
    for path in paths:
        if path.resolve() in input_files:
            raise FaceKitError(f"{path} is an input image; choose another --output")
        if path.exists() and not overwrite:
            raise FaceKitError(f"{path} already exists; pass --overwrite or choose another --output")


def annotate_image(analyzer, image_path, output_path):
    """Reads, analyses, draws and writes one image; returns its JSON entry and a one-line summary."""
    image = read_image(image_path)
    faces = analyzer.analyze(image)
    write_image(output_path, annotate_photo(image, faces))
    height, width = image.shape[:2]
    entry = {"image": str(image_path), "output": str(output_path), "width": width, "height": height,
             "faces": faces}
    found = f"{len(faces)} face{'s' * (len(faces) != 1)}" if faces else "no face found"
    return entry, f"{image_path}: {found} -> {output_path}"


def write_json(path, entries):
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(entries, indent=2) + "\n")
    except OSError as error:
        raise FaceKitError(f"cannot write {path}: {error.strerror}") from None


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
    check_writable(outputs + ([Path(args.json)] if args.json else []), images, args.overwrite)
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
    if args.json:
        write_json(args.json, entries)
        print(f"wrote {args.json}")
    if failed:
        print(f"{failed} of {len(images)} images could not be annotated; the others were", file=sys.stderr)
    return 1 if failed else 0


def main(argv=None):
    args = parse_args(argv)
    allow_large_images()
    try:
        status = run(args)
    except FaceKitError as error:
        exit_with_error(error)
    sys.exit(status)


if __name__ == "__main__":
    main()
