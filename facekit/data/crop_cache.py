"""Photos and loosely aligned faces -> face crops made exactly as the demos make them, once, cached on disk.

A dataset whose images are not UTKFace-style crops (All-Age-Faces' aligned faces have more margin and black
corners; a CSV of photos) would teach the model a framing it never sees at inference. Each image goes through the
shipped detector and the crop geometry of ``facekit.crop`` (the demos' path, at UTKFace's 200x200), and training reads
the crop. The cache is keyed by the file's content, the detector (with its score threshold and search resolution) and
the crop geometry, so a changed image, detector or template makes new crops instead of reusing stale ones.

An image with no face, or with a second face at least ``AMBIGUOUS_AREA`` of the largest's area (which face
carries the label?), is skipped, named and counted; the verdict is cached too.
"""
import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from facekit.core import paths
from facekit.core.errors import DataError, first_few
from facekit.core.outputs import write_text
from facekit.data.samples import Samples
from facekit.vision.crop import UTKFACE_SIZE, crop_faces
from facekit.vision.detectors import DEFAULT_DETECTOR, create_detector, detector_spec
from facekit.vision.detectors.base import Detector, Face
from facekit.vision.images import read_image, write_image

logger = logging.getLogger(__name__)

CROP_MODES = ("as-is", "detect")  # as-is: the images already are crops like UTKFace's; detect: crop them here
AMBIGUOUS_AREA = 0.5  # a second face this large (of the largest's box area) makes the label's face uncertain


@dataclass
class CropReport:
    """What became of the images: ``crops`` (one path or None per image, in order) and why each None."""

    crops: list[str | None]
    skipped: dict[str, str] = field(default_factory=dict)  # image path -> "no face" or "N faces"

    def summary(self, what: str) -> str:
        if not self.skipped:
            return f"{what}: {len(self.crops)} faces cropped"
        names = [f"{Path(p).name} ({why})" for p, why in self.skipped.items()]
        return (f"{what}: {len(self.crops) - len(self.skipped)} faces cropped, {len(self.skipped)} image(s) skipped: "
                + first_few(names))


def cache_folder(detector: str = DEFAULT_DETECTOR, min_score: float | None = None) -> Path:
    """The folder of the crops one detector and crop geometry make: its name holds a hash of both."""
    spec = detector_spec(detector)
    crop = spec.crop
    # The detector's search resolution moves its landmarks by a pixel or two, and so the crops.
    search = {"reliable_face": getattr(spec.detector, "RELIABLE_FACE", None),
              "min_face": getattr(spec.detector, "DEFAULT_MIN_FACE", None),
              "fallback_pad": getattr(spec.detector, "FALLBACK_PAD", None)}
    identity = json.dumps({"detector": detector, "min_score": min_score, "search": search, "size": UTKFACE_SIZE,
                           "box_scale": crop.box_scale, "box_shift": list(crop.box_shift),
                           "template": None if crop.template is None else np.round(crop.template, 3).tolist(),
                           "ambiguous_area": AMBIGUOUS_AREA}, sort_keys=True)
    return paths.crop_cache_dir() / f"{detector}_{hashlib.sha256(identity.encode()).hexdigest()[:12]}"


def _content_key(path: str | Path) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:24]
    except OSError as error:
        raise DataError(f"cannot read {path}: {error.strerror or error}") from error


def _verdict(faces: Sequence[Face]) -> str | None:
    """None when the image has one clear face; else why it is skipped."""
    if not faces:
        return "no face"
    areas = [face.box[2] * face.box[3] for face in faces]  # largest first
    comparable = [a for a in areas[1:] if a >= AMBIGUOUS_AREA * areas[0]]
    return f"{1 + len(comparable)} faces" if comparable else None


def _whole_png(path: Path) -> bool:
    """True when the cached crop is there and whole: its PNG chunks all present with their checksums (PIL's verify,
    no decoding; a fraction of a millisecond)."""
    try:
        with Image.open(path) as image:
            image.verify()
        return True
    except (OSError, SyntaxError, ValueError):
        return False


def crop_images(image_paths: Sequence[str | Path], detector: str = DEFAULT_DETECTOR, min_score: float | None = None,
                progress: bool = True) -> CropReport:
    """One cached crop (or None, with the reason in ``skipped``) per image of ``image_paths``, in order."""
    folder = cache_folder(detector, min_score)
    verdicts_file = folder / "skipped.json"
    verdicts: dict[str, str]
    try:
        verdicts = json.loads(verdicts_file.read_text()) if verdicts_file.exists() else {}
    except ValueError:
        verdicts = {}  # a damaged verdict file costs a second detection of the skipped images, nothing else
    detector_object: Detector | None = None
    report = CropReport(crops=[])
    known_verdicts = len(verdicts)
    for image_path in tqdm(image_paths, desc=f"cropping faces ({detector})", unit="image", disable=not progress,
                           mininterval=2):
        key = _content_key(image_path)
        crop_path = folder / f"{key}.png"
        reason = verdicts.get(key)
        if reason is None and not _whole_png(crop_path):  # missing, or damaged (cut by a kill, a full disk): made again
            if detector_object is None:
                detector_object = create_detector(detector, min_score=min_score)
            image = read_image(image_path)
            faces = detector_object.detect(image)
            reason = _verdict(faces)
            if reason is None:
                write_image(crop_path, crop_faces(image, faces[:1], UTKFACE_SIZE, detector_spec(detector).crop)[0])
            else:
                verdicts[key] = reason
        if reason is not None:
            report.skipped[str(image_path)] = reason
        report.crops.append(None if reason is not None else str(crop_path))
    if len(verdicts) > known_verdicts:
        write_text(verdicts_file, json.dumps(verdicts, indent=0, sort_keys=True))
    return report


def cropped(samples: Samples, detector: str = DEFAULT_DETECTOR, min_score: float | None = None,
            what: str = "images") -> Samples:
    """``samples`` with each image replaced by its cached face crop; images without one clear face dropped (and
    reported). Split by file name first: the crops are named by content."""
    report = crop_images(samples.paths.tolist(), detector, min_score)
    logger.info(report.summary(what))
    keep = np.array([crop is not None for crop in report.crops], dtype=bool)
    return replace(samples.subset(keep), paths=np.array([crop for crop in report.crops if crop is not None]))
