"""Video: detect less. Once faces are found, the next frames are searched only around them (a region a little larger
than each face: it moves little between frames), and the whole frame only every ``full_every`` frames, or at once
when a face is not found again in its region. So a face that enters appears within ``full_every`` analysed frames,
and one that leaves costs one full search.

``RegionSearch(detector).detect(frame)`` is a detector's ``detect`` for consecutive frames of one video (it keeps
what it found). At ``full_every`` 10 an analysed 640x480 frame with one face costs 0.43 of one searched whole
(benchmarks/RESULTS.md, "Detect less in video").
"""
from __future__ import annotations

from dataclasses import replace
from typing import cast

import cv2
import numpy as np

from facekit.vision.detectors.base import Detector, Face
from facekit.vision.images import Box, RgbImage

# Analysed frames between full searches (the video demo's --full-every N; its default is 1, every frame whole): at 10
# a new face appears within a third of a second at 30 fps, and a frame costs 0.43 of a whole-frame search's; the
# ages differ from the whole-frame search's by 1.2 years on average (YuNet's landmarks move with the resolution and
# context it is given), against 0.9 from one frame to the next of the whole-frame search itself.
FULL_EVERY = 10
MARGIN = 0.5  # a face's region reaches this many of its box sides beyond the box on every side
# A region is shrunk until its face is this many pixels high: YuNet finds faces reliably from 40, and the full
# frame's own passes see a 150-pixel face at 75 to 107 pixels; a region then costs a fifth of a 640x480 frame.
REGION_FACE = 96


class RegionSearch:
    """A detector searching only around the faces of the previous frame, except every ``full_every`` frames or when
    one of them is lost."""

    def __init__(self, detector: Detector, full_every: int = FULL_EVERY, margin: float = MARGIN) -> None:
        if full_every < 1 or margin <= 0:
            raise ValueError(f"full_every must be 1 or more and margin more than 0, not {full_every}, {margin}")
        self.detector, self.full_every, self.margin = detector, full_every, margin
        self._faces: list[Face] = []
        self._since_full = 0
        self.full_searches = 0  # how many frames were searched whole (for the benchmarks and tests)

    def detect(self, image_rgb: RgbImage) -> list[Face]:
        if not self._faces or self._since_full + 1 >= self.full_every:
            return self._full(image_rgb)
        found = []
        for face in self._faces:
            again = self._in_region(image_rgb, face)
            if again is None:  # lost (it left, turned away or was hidden): the whole frame, now
                return self._full(image_rgb)
            found.append(again)
        self._since_full += 1
        self._faces = _largest_first(_without_duplicates(found))
        return self._faces

    def _full(self, image_rgb: RgbImage) -> list[Face]:
        self._faces = list(self.detector.detect(image_rgb))
        self._since_full = 0
        self.full_searches += 1
        return self._faces

    def _in_region(self, image_rgb: RgbImage, face: Face) -> Face | None:
        """The face found again in its region of this frame (the one nearest its last box), in the frame's pixels;
        None when the region has none."""
        height, width = image_rgb.shape[:2]
        x, y, w, h = face.box
        pad = self.margin * max(w, h)
        x0, y0 = max(0, int(x - pad)), max(0, int(y - pad))
        x1, y1 = min(width, int(np.ceil(x + w + pad))), min(height, int(np.ceil(y + h + pad)))
        if x1 - x0 < 2 or y1 - y0 < 2:
            return None
        region = image_rgb[y0:y1, x0:x1]
        scale = min(1.0, REGION_FACE / max(w, h, 1))
        if scale < 1:
            size = (max(2, round((x1 - x0) * scale)), max(2, round((y1 - y0) * scale)))
            region = cast(RgbImage, cv2.resize(region, size, interpolation=cv2.INTER_AREA))  # stubs: MatLike
            sx, sy = (x1 - x0) / size[0], (y1 - y0) / size[1]  # each axis by the scale its rounded side has
        else:
            sx = sy = 1.0
        candidates = self.detector.detect(np.ascontiguousarray(region))
        if not candidates:
            return None
        centre = np.array([(x + w / 2 - x0) / sx, (y + h / 2 - y0) / sy])
        best = min(candidates, key=lambda c: float(np.hypot(*(np.array([c.box[0] + c.box[2] / 2,
                                                                          c.box[1] + c.box[3] / 2]) - centre))))
        bx, by, bw, bh = best.box
        landmarks = None if best.landmarks is None else \
            (np.asarray(best.landmarks) * np.array([sx, sy]) + np.array([x0, y0])).astype(np.float32)
        box = (int(round(bx * sx + x0)), int(round(by * sy + y0)), int(round(bw * sx)), int(round(bh * sy)))
        return replace(best, box=box, landmarks=landmarks)


def _without_duplicates(faces: list[Face]) -> list[Face]:
    """Two regions that found the same face (two faces that came close): kept once."""
    kept: list[Face] = []
    for face in faces:
        if all(_overlap(face.box, other.box) < 0.5 for other in kept):
            kept.append(face)
    return kept


def _overlap(a: Box, b: Box) -> float:
    width = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    height = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return width * height / max(1, min(a[2] * a[3], b[2] * b[3]))


def _largest_first(faces: list[Face]) -> list[Face]:
    return sorted(faces, key=lambda face: face.box[2] * face.box[3], reverse=True)
