"""Boxes and labels on RGB images. Everything here takes and returns RGB: colours are RGB triples, and only
the code that talks to OpenCV's video I/O converts to BGR (drawing BGR colours on RGB swapped them before)."""
import math
from collections.abc import Sequence
from typing import Protocol, TypeAlias

import cv2
import numpy as np

from facekit.vision.images import Box, RgbImage

Colour: TypeAlias = tuple[int, int, int]  # RGB, 0-255

FONT = cv2.FONT_HERSHEY_SIMPLEX
BOX_COLOURS_RGB = {"female": (230, 60, 140), "male": (40, 120, 230)}  # magenta, blue
TEXT_RGB = (255, 255, 255)
BANNER_RGB = (0, 0, 0)


class LabelledFace(Protocol):
    """What a face's box and label are drawn from (``facekit.infer.results.FaceResult`` has it)."""

    @property
    def box(self) -> Box: ...

    @property
    def age(self) -> float: ...

    @property
    def gender(self) -> str: ...

    @property
    def race(self) -> str: ...


def face_label(face: LabelledFace) -> str:
    """``F 32 Asian``: gender initial, age in years, race (of a face's ``gender``, ``age`` and ``race``, as a
    ``facekit.infer.results.FaceResult`` has them). The age, to 0.1 year as the JSON gives it to the page, is rounded
    half up, as the page's Math.round (facekit/apps/static/app.js) does: 28.5 is 29 on both."""
    return f"{face.gender[0].upper()} {math.floor(round(face.age, 1) + 0.5)} {face.race}"


def text_style(image: RgbImage) -> tuple[float, int]:
    """Font scale and line thickness for an image: readable on a phone photo and on a 640x480 frame alike."""
    scale = max(0.4, min(image.shape[:2]) / 800)
    return scale, max(1, round(scale * 2))


def text_box_size(image: RgbImage, text: str) -> tuple[int, int]:
    """Width and height of the filled box that draw_text_box puts behind ``text``."""
    scale, thickness = text_style(image)
    (text_w, text_h), baseline = cv2.getTextSize(text, FONT, scale, thickness)
    pad = thickness + 1
    return text_w + 2 * pad, text_h + baseline + 2 * pad


def draw_text_box(image: RgbImage, text: str, x: float, y: float, background_rgb: Colour,
                  text_rgb: Colour = TEXT_RGB) -> None:
    """Draws ``text`` on a filled box whose top-left corner is near (x, y), moved so that it stays inside."""
    scale, thickness = text_style(image)
    box_w, box_h = text_box_size(image, text)
    x = int(min(max(x, 0), max(image.shape[1] - 1 - box_w, 0)))  # the rectangle includes its far corner
    y = int(min(max(y, 0), max(image.shape[0] - 1 - box_h, 0)))
    cv2.rectangle(image, (x, y), (x + box_w, y + box_h), background_rgb, cv2.FILLED)
    pad = thickness + 1
    baseline = cv2.getTextSize(text, FONT, scale, thickness)[1]
    cv2.putText(image, text, (x + pad, y + box_h - pad - baseline), FONT, scale, text_rgb, thickness, cv2.LINE_AA)


def annotate(image_rgb: RgbImage, faces: Sequence[LabelledFace]) -> RgbImage:
    """A copy of the image with each face's box and label (above the box, or inside it at the top edge).

    ``faces``: as ``FaceAnalyzer.analyze`` gives them (``box``: x, y, width, height; ``gender``, ``age``, ``race``).
    """
    annotated = np.ascontiguousarray(image_rgb).copy()
    _, thickness = text_style(annotated)
    for face in faces:
        x, y, w, h = face.box
        colour = BOX_COLOURS_RGB.get(face.gender, BANNER_RGB)
        cv2.rectangle(annotated, (x, y), (x + w, y + h), colour, thickness)
        label = face_label(face)
        label_h = text_box_size(annotated, label)[1]
        draw_text_box(annotated, label, x, y - label_h if y >= label_h else y, colour)
    return annotated


def annotate_photo(image_rgb: RgbImage, faces: Sequence[LabelledFace]) -> RgbImage:
    """A photo's annotated copy as the demo and the server give it: boxes and labels, or a banner when no face."""
    annotated = annotate(image_rgb, faces)
    return annotated if faces else draw_banner(annotated, "no face found")


def draw_banner(image_rgb: RgbImage, text: str) -> RgbImage:
    """Writes a status line (frame rate, "no face found") in the top-left corner, in place."""
    draw_text_box(image_rgb, text, 0, 0, BANNER_RGB)
    return image_rgb


def draw_fps(image_rgb: RgbImage, frames_per_second: float, analyses_per_second: float | None = None) -> RgbImage:
    """The video banner: frames shown (or written) per second, and frames analysed per second when given."""
    text = f"{frames_per_second:.1f} FPS"
    if analyses_per_second is not None:
        text += f", analysed {analyses_per_second:.1f}/s"
    return draw_banner(image_rgb, text)
