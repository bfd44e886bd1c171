"""face_demo.py's work on photos: where each annotated copy goes (checked before the slow work, in linear time), and
one photo read, analysed, and drawn and written (or results only), in three steps that the library
(facekit/apps/library.py) runs in a pipeline: ``read_photo`` (in a thread, ahead), ``analyze_read`` (the detector
and the model) and ``write_annotated`` (in a thread); ``analyze_photo`` is the three, one after another.

``ReducedDecode``: results only, a large JPEG decoded at 1/2, 1/4 or 1/8 of its size where that cannot change
which faces YuNet finds nor the pixels their crops are cut from."""
from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol, TypeAlias

import cv2
import numpy as np

from facekit.core.errors import FaceKitError
from facekit.core.outputs import InputFiles, check_folder, check_output, check_replaceable
from facekit.infer.analyzer import FaceAnalyzer
from facekit.infer.options import AnalyzerOptions
from facekit.infer.results import FaceResult, photo_entry
from facekit.vision.crop import crop_matrix
from facekit.vision.detectors import create_detector
from facekit.vision.detectors.base import Face, clip_box
from facekit.vision.detectors.yunet import YuNetDetector
from facekit.vision.drawing import annotate_photo
from facekit.vision.images import IMAGE_EXTENSIONS, RgbImage, read_image_and_size, reduced_by, write_image

Timings: TypeAlias = dict[str, float]  # seconds per stage: decode, detect, predict, annotate (the annotated copy)


class PhotoAnalyzer(Protocol):
    """What a photo is analysed with: ``facekit.FaceAnalyzer``, or anything with its ``analyze`` (``timings``: a
    dict that receives the seconds spent detecting and predicting, "detect" and "predict")."""

    def analyze(self, image: np.ndarray, timings: Timings | None = None) -> list[FaceResult]: ...


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


@dataclass
class ReadPhoto:
    """A photo read (``read_photo``): its pixels and the file's upright (width, height), or why it cannot be
    read; ``seconds``: the time reading and decoding it took."""

    path: str | Path
    image: RgbImage | None = None
    size: tuple[int, int] = (0, 0)
    error: str | None = None
    seconds: float = 0.0


@dataclass
class AnalysedPhoto:
    """A photo analysed (``analyze_read``): its faces in the pixels of ``image``, the image they were cut from (the
    one drawn on), where its annotated copy goes; or the error that stopped it."""

    path: str | Path
    output: str | Path | None
    image: RgbImage | None = None
    size: tuple[int, int] = (0, 0)
    faces: list[FaceResult] = field(default_factory=list)
    error: str | None = None
    timings: Timings = field(default_factory=dict)


def read_photo(image_path: str | Path, reduction: int = 1, min_side: int = 0) -> ReadPhoto:
    """The first step: the photo read and decoded (``reduction``, ``min_side``: a JPEG decoded reduced, as
    ``images.read_image_and_size`` takes them; ``ReducedDecode`` says how far). Safe in a thread of its own."""
    start = time.perf_counter()
    try:
        image, size = read_image_and_size(image_path, reduction, min_side)
    except (FaceKitError, cv2.error) as error:  # one bad file must not stop a folder
        return ReadPhoto(image_path, error=str(error), seconds=time.perf_counter() - start)
    return ReadPhoto(image_path, image, size, seconds=time.perf_counter() - start)


def analyze_read(analyzer: PhotoAnalyzer, photo: ReadPhoto, output_path: str | Path | None = None,
                 reduced: ReducedDecode | None = None) -> AnalysedPhoto:
    """The second step: the faces of a photo read (with ``reduced``, the ReducedDecode it was read for)."""
    result = AnalysedPhoto(photo.path, output_path, photo.image, photo.size, error=photo.error,
                           timings={"decode": photo.seconds})
    if photo.image is None:
        return result
    try:
        if reduced is not None:
            result.image, result.faces = reduced.analyze(photo, result.timings)
        else:
            result.faces = analyzer.analyze(photo.image, timings=result.timings)
    except (FaceKitError, cv2.error) as error:
        result.error = str(error)
    return result


def write_annotated(photo: AnalysedPhoto) -> AnalysedPhoto:
    """The third step, where the photo has an annotated copy to write: it, drawn and written (or the error that
    stopped it). Safe in a thread of its own."""
    if photo.output is None or photo.image is None or photo.error is not None:
        return photo
    start = time.perf_counter()
    try:
        write_image(photo.output, annotate_photo(photo.image, photo.faces))
    except (FaceKitError, cv2.error) as error:
        photo.error = str(error)
    photo.timings["annotate"] = time.perf_counter() - start
    return photo


def photo_result(photo: AnalysedPhoto) -> tuple[dict[str, Any], str | None]:
    """A photo's (JSON entry, one-line summary): an entry with its ``error`` and no summary when it could not be
    read, analysed or written."""
    if photo.error is not None or photo.image is None:
        return {"image": str(photo.path), "error": str(photo.error)}, None
    entry: dict[str, Any] = {"image": str(photo.path),
                             **({"output": str(photo.output)} if photo.output is not None else {}),
                             **photo_entry(photo.faces, photo.image, photo.size)}
    faces = photo.faces
    found = f"{len(faces)} face{'s' * (len(faces) != 1)}" if faces else "no face found"
    return entry, f"{photo.path}: {found}" + (f" -> {photo.output}" if photo.output is not None else "")


def analyze_photo(analyzer: PhotoAnalyzer, image_path: str | Path, output_path: str | Path | None = None,
                  reduced: ReducedDecode | None = None) -> tuple[dict[str, Any], str | None]:
    """One photo -> (its JSON entry, a one-line summary). With ``output_path`` its annotated copy is written there;
    without, results only. A photo that cannot be read or written gives an entry with its ``error`` and no
    summary. ``reduced``: a ReducedDecode for ``analyzer`` (results only), or None to decode every photo whole."""
    photo = read_photo(image_path, *(reduced.decode if reduced is not None else ()))
    return photo_result(write_annotated(analyze_read(analyzer, photo, output_path, reduced)))


class _Found:
    """Faces found already, as FaceAnalyzer's ``search`` gives them: what the model is run on."""

    def __init__(self, faces: list[Face]) -> None:
        self.faces = faces

    def detect(self, image_rgb: RgbImage) -> list[Face]:
        return self.faces


class ReducedDecode:
    """Results only: a large JPEG decoded at 1/2, 1/4 or 1/8 of its size (``images.read_image_and_size``'s
    ``reduction``), for a FaceAnalyzer with YuNet, only where that cannot change which faces are found nor the
    pixels their crops are cut from.

    - What YuNet sees: its first pass searches a photo at RELIABLE_FACE / min_face of its size (where the smallest
      face wanted is 40 pixels high), its bordered pass at SMALL_PASS_SIDE (320) pixels on the longer side. A
      photo decoded k times smaller is searched by a second YuNet asked for faces k times smaller (min_face / k),
      that is at the same resolutions, as long as min_face / k is still at least RELIABLE_FACE (the first pass
      never enlarges) and the longer side at least SMALL_PASS_SIDE. So k is at most min_face / 40: no reduction
      with the default --min-face 56 (the first pass needs 40/56 of the photo's own pixels), 1/2 from --min-face
      80, 1/4 from 160, 1/8 from 320.
    - What the model sees: each face is cut out of the reduced photo only when its crop takes at least the model's
      input size of the photo's pixels (the crop then shrinks them, as it would the whole photo's). Otherwise the
      photo is read again, as little reduced as its smallest face needs (1/2, or its whole size), and the faces
      found on the reduced copy, their boxes and landmarks scaled, are cut out of that.
    Boxes and landmarks are in the file's pixels in the JSON, as for a photo shrunk to MAX_SIDE, with the
    ``detection_scale`` of the copy the faces were cut from. Annotated copies need the whole photo: not with them.
    """

    def __init__(self, analyzer: FaceAnalyzer, detector: YuNetDetector) -> None:
        """``detector``: a second YuNet like ``analyzer``'s, for the reduced photos (its min_face_size is set for
        each); one ReducedDecode serves one thread."""
        own = analyzer.detector
        assert type(own) is YuNetDetector, "reduced_decode says which analyzers have one"
        self.analyzer = analyzer
        self.detector = detector
        self.min_face: float = own.min_face_size
        self.reduction = max_reduction(own)
        self.min_side = own.SMALL_PASS_SIDE

    @property
    def decode(self) -> tuple[int, int]:
        """``read_photo``'s (reduction, min_side) for this analyzer."""
        return self.reduction, self.min_side

    def analyze(self, photo: ReadPhoto, timings: Timings) -> tuple[RgbImage, list[FaceResult]]:
        """(the image the faces were cut from, its faces in its pixels) for a photo read with ``decode``."""
        assert photo.image is not None
        image = photo.image
        scale = reduced_by(image, photo.size)
        if scale <= 1:  # not a JPEG, or too small to reduce: the analyzer's own path
            return image, self.analyzer.analyze(image, timings=timings)
        start = time.perf_counter()
        self.detector.min_face_size = self.min_face / scale
        faces = self.detector.detect(image)
        timings["detect"] = time.perf_counter() - start
        if not faces:
            timings["predict"] = 0.0
            return image, []
        allowed = min(scale / self.enlargement(face) for face in faces)  # the most reduced copy each face allows
        if allowed < scale:
            start = time.perf_counter()
            image, _ = read_image_and_size(photo.path, 2 ** int(math.log2(max(allowed, 1))), self.min_side)
            timings["decode"] += time.perf_counter() - start
            faces = [scaled_face(face, scale / reduced_by(image, photo.size), image) for face in faces]
        own: Timings = {}
        results = self.analyzer.analyze(image, timings=own, search=_Found(faces))
        timings["predict"] = own.get("predict", 0.0)
        return image, results

    def enlargement(self, face: Face) -> float:
        """How many crop pixels the model's crop makes of each of the image's (above 1: it enlarges them)."""
        matrix = crop_matrix(face, self.analyzer.input_size, self.analyzer.crop_spec)
        return float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))


def max_reduction(detector: YuNetDetector) -> int:
    """The most a JPEG may be reduced for YuNet (1, 2, 4 or 8): its smallest face still RELIABLE_FACE pixels high."""
    ratio = detector.min_face_size / detector.RELIABLE_FACE
    return max(k for k in (1, 2, 4, 8) if k <= ratio or k == 1)


def scaled_face(face: Face, factor: float, image: RgbImage) -> Face:
    """A face found on a reduced copy, in the pixels of ``image``, ``factor`` times larger."""
    x, y, width, height = (value * factor for value in face.box)
    landmarks = None if face.landmarks is None else (face.landmarks * factor).astype(np.float32)
    return replace(face, box=clip_box(x, y, x + width, y + height, image.shape[1], image.shape[0]),
                   landmarks=landmarks)


def reduced_decode(options: AnalyzerOptions, analyzer: PhotoAnalyzer) -> ReducedDecode | None:
    """The ReducedDecode for ``analyzer`` built from ``options``, or None where JPEGs are decoded whole: a detector
    other than YuNet (whose search resolutions are not declared), or a --min-face below 80 (no reduction keeps the
    smallest face findable)."""
    if not isinstance(analyzer, FaceAnalyzer) or type(analyzer.detector) is not YuNetDetector:
        return None
    if max_reduction(analyzer.detector) == 1:
        return None
    detector = create_detector(options.detector, options.detector_model, options.min_score, options.min_face)
    assert isinstance(detector, YuNetDetector)
    return ReducedDecode(analyzer, detector)
