"""face_demo.py's work on photos: where each annotated copy goes (checked before the slow work, in linear time), and
one photo read, analysed, and drawn and written (or results only)."""
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from facekit.core.errors import FaceKitError
from facekit.core.outputs import InputFiles, check_folder, check_output, check_replaceable
from facekit.infer.results import FaceResult, photo_entry
from facekit.vision.drawing import annotate_photo
from facekit.vision.images import IMAGE_EXTENSIONS, read_image_and_size, write_image


class PhotoAnalyzer(Protocol):
    """What a photo is analysed with: ``facekit.FaceAnalyzer``, or anything with its ``analyze``."""

    def analyze(self, image: np.ndarray) -> list[FaceResult]: ...


def output_paths(images: Sequence[Path], output: str | Path,
                 claimed: Mapping[str, str | Path | None] | None = None) -> list[Path]:
    """Where each input's annotated copy goes: one file named by ``output``, or NAME_annotated.EXT in a folder.
    ``claimed``: {image: its output} of photos done before (--resume): they keep theirs, and no other photo is given
    one of them."""
    done = {str(Path(image).absolute()): Path(path) for image, path in (claimed or {}).items() if path}
    output = Path(output)
    if output.suffix.lower() in IMAGE_EXTENSIONS:
        if len(images) != 1:
            raise FaceKitError(f"--output {output} is a file name, but there are {len(images)} input images; "
                               "give a folder instead")
        return [output]
    paths, taken = [], {path.absolute() for path in done.values()}
    for image in images:
        if str(Path(image).absolute()) in done:
            paths.append(done[str(Path(image).absolute())])
            continue
        stem, suffix = f"{image.stem}_annotated", image.suffix.lower()
        path, copy = output / f"{stem}{suffix}", 1
        while path.absolute() in taken:  # same name from two folders, or done before: photo_annotated_2.jpg
            copy += 1
            path = output / f"{stem}_{copy}{suffix}"
        taken.add(path.absolute())
        paths.append(path)
    return paths


def check_outputs(outputs: Sequence[Path], json_path: str | Path | None, inputs: Sequence[str | Path],
                  overwrite: bool, jsonl_path: str | Path | None = None, resume: bool = False) -> None:
    """Before any slow work, in time linear in the number of photos: no output replaces an input (compared as
    files by device and inode: links too) or, without --overwrite, an existing file; --json and --jsonl are not one
    of the annotated images nor each other; every folder can be written. With ``resume`` an existing --jsonl file
    is the one to continue."""
    files = InputFiles(inputs)
    for path in outputs:
        check_replaceable(path, "--output", files, overwrite)
    for folder in {path.parent for path in outputs}:
        check_folder(folder, "--output")
    annotated = {path.resolve() for path in outputs}
    results = [(option, Path(path)) for option, path in (("--json", json_path), ("--jsonl", jsonl_path))
               if path is not None]
    for option, path in results:
        if path.resolve() in annotated:
            raise FaceKitError(f"{option} {path} is also where an annotated image goes; choose another {option}")
        check_output(path, option, files, overwrite or (resume and option == "--jsonl"))
    if len(results) == 2 and results[0][1].resolve() == results[1][1].resolve():
        raise FaceKitError(f"--json and --jsonl are the same file {json_path}; choose two")


def analyze_photo(analyzer: PhotoAnalyzer, image_path: str | Path,
                  output_path: str | Path | None = None) -> tuple[dict[str, Any], str | None]:
    """One photo -> (its JSON entry, a one-line summary). With ``output_path`` its annotated copy is written there;
    without, results only. A photo that cannot be read or written gives an entry with its ``error`` and no
    summary."""
    try:
        image, size = read_image_and_size(image_path)
        faces = analyzer.analyze(image)
        if output_path is not None:
            write_image(output_path, annotate_photo(image, faces))
    except (FaceKitError, cv2.error) as error:  # one bad file must not stop a folder
        return {"image": str(image_path), "error": str(error)}, None
    entry: dict[str, Any] = {"image": str(image_path),
                             **({"output": str(output_path)} if output_path is not None else {}),
                             **photo_entry(faces, image, size)}
    found = f"{len(faces)} face{'s' * (len(faces) != 1)}" if faces else "no face found"
    return entry, f"{image_path}: {found}" + (f" -> {output_path}" if output_path is not None else "")
