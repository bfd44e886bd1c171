"""face_demo.py's work on photos: where each annotated copy goes (checked before the slow work), and one photo read,
analysed, drawn and written."""
from pathlib import Path

from facekit.core.errors import FaceKitError
from facekit.core.outputs import check_folder, check_output, check_replaceable
from facekit.infer.results import photo_entry
from facekit.vision.drawing import annotate_photo
from facekit.vision.images import IMAGE_EXTENSIONS, read_image_and_size, write_image


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


def check_outputs(outputs, json_path, inputs, overwrite):
    """Before any slow work: no output replaces an input (compared as files: links too) or, without --overwrite,
    an existing file; --json is not one of the annotated images; every folder can be written."""
    for path in outputs:
        check_replaceable(path, "--output", inputs, overwrite)
    for folder in {path.parent for path in outputs}:
        check_folder(folder, "--output")
    if json_path is not None:
        json_path = Path(json_path)
        if json_path.resolve() in {path.resolve() for path in outputs}:
            raise FaceKitError(f"--json {json_path} is also where an annotated image goes; choose another --json")
        check_output(json_path, "--json", inputs, overwrite)


def annotate_image(analyzer, image_path, output_path):
    """Reads, analyses, draws and writes one image; returns its JSON entry and a one-line summary."""
    image, size = read_image_and_size(image_path)
    faces = analyzer.analyze(image)
    write_image(output_path, annotate_photo(image, faces))
    entry = {"image": str(image_path), "output": str(output_path), **photo_entry(faces, image, size)}
    found = f"{len(faces)} face{'s' * (len(faces) != 1)}" if faces else "no face found"
    return entry, f"{image_path}: {found} -> {output_path}"
