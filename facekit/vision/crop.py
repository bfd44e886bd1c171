"""Detected faces -> model inputs that look like the training crops (UTKFace's aligned & cropped 200x200 faces).

With landmarks, a similarity transform (rotation, uniform scale, shift) maps the five points onto a template: where
that detector puts them, on average, in UTKFace's crops. Without them, a square around the box, scaled and shifted
as measured for that detector, is cut out. Both are one affine warp: areas outside the photo are filled by replicating
its edge. Each detector's measured geometry is in its entry in ``facekit/vision/detectors/__init__.py``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypeAlias, cast

import cv2
import numpy as np
from numpy.typing import NDArray

from facekit.vision.images import Box, Landmarks, RgbImage

UTKFACE_SIZE = 200
Matrix: TypeAlias = NDArray[np.float64]  # a 2x3 affine transform, image pixels -> crop pixels


class FaceLocation(Protocol):
    """What a crop needs of a face: its box and its landmarks, if any (a detector's ``Face`` has them)."""

    @property
    def box(self) -> Box: ...

    @property
    def landmarks(self) -> Landmarks | None: ...


@dataclass(frozen=True)
class CropSpec:
    """Where a detector's output sits in a UTKFace crop.

    ``template``: mean landmarks (in ``facekit/vision/detectors/base.py``'s order) in the 200x200 crop, or None for a
    detector without them. Box fallback: a square of ``box_scale`` times the box's longer side, its centre
    ``box_shift`` (x, y) box sides away from the box centre.
    """

    box_scale: float
    box_shift: tuple[float, float]
    template: NDArray[np.float32] | None = None

    def scaled(self, factor: float) -> CropSpec:
        """The same crop ``factor`` times wider (more margin when > 1), around the same centre."""
        template = None
        if self.template is not None:
            centre = UTKFACE_SIZE / 2
            template = centre + (self.template - centre) / factor
        return CropSpec(self.box_scale * factor, self.box_shift, template)


def alignment_matrix(landmarks: Landmarks, template: NDArray[np.float32], size: int) -> Matrix | None:
    """2x3 similarity transform taking the five landmarks onto ``template`` scaled to ``size``; None if degenerate."""
    target = template * (size / UTKFACE_SIZE)
    matrix, _ = cv2.estimateAffinePartial2D(np.asarray(landmarks, np.float32), target, method=cv2.LMEDS)
    return None if matrix is None else cast(Matrix, matrix)  # float64; OpenCV's stubs say MatLike


def box_matrix(box: Box, size: int, spec: CropSpec) -> Matrix:
    """2x3 scale-and-shift taking the square around ``box`` (per ``spec``) onto a ``size`` x ``size`` image."""
    x, y, w, h = box
    longer = max(w, h)
    centre_x = x + w / 2 + spec.box_shift[0] * longer
    centre_y = y + h / 2 + spec.box_shift[1] * longer
    scale = size / (longer * spec.box_scale)
    return np.array([[scale, 0, size / 2 - scale * centre_x],
                     [0, scale, size / 2 - scale * centre_y]], dtype=np.float64)


def crop_matrix(face: FaceLocation, size: int, spec: CropSpec) -> Matrix:
    """How ``face`` is cut out: aligned on its landmarks when it and ``spec`` have them, else the box crop."""
    if face.landmarks is not None and spec.template is not None:
        matrix = alignment_matrix(face.landmarks, spec.template, size)
        if matrix is not None:
            return matrix
    return box_matrix(face.box, size, spec)


def crop_faces(image_rgb: RgbImage, faces: Sequence[FaceLocation], size: int, spec: CropSpec) -> RgbImage:
    """Faces (``facekit.vision.detectors.base.Face``) of one image -> uint8 array (N, size, size, 3), in the order of
    ``faces``.

    ``spec``: the detector's crop geometry, ``detector_spec(name).crop`` (``.scaled(f)`` for a wider or tighter crop).
    """
    crops = np.empty((len(faces), size, size, 3), dtype=np.uint8)
    for index, face in enumerate(faces):
        crops[index] = _warp(image_rgb, crop_matrix(face, size, spec), size)
    return crops


def _warp(image: RgbImage, matrix: Matrix, size: int) -> RgbImage:
    # warpAffine samples bilinearly, which aliases when it shrinks a lot: warp at about the face's own
    # resolution, then shrink by area averaging.
    oversample = max(1, int(1 / np.sqrt(abs(np.linalg.det(matrix[:, :2])))))
    warped = cv2.warpAffine(image, matrix * oversample, (size * oversample,) * 2, flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REPLICATE)
    shrunk = warped if oversample == 1 else cv2.resize(warped, (size, size), interpolation=cv2.INTER_AREA)
    return cast(RgbImage, shrunk)  # uint8 as the image; OpenCV's stubs say MatLike
