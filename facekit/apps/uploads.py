"""An uploaded image, as the web service takes it: checked against the size limits and read as the demos read photos
(facekit.vision.images: upright, RGB, its longest side shrunk to images.MAX_SIDE).

Everything here is synchronous and framework-free: ``facekit.apps.server`` calls it from a worker thread.
"""
import ctypes
import ctypes.util
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, UnidentifiedImageError

from facekit.core.errors import FaceKitError
from facekit.vision.images import read_image_and_size

MAX_UPLOAD_BYTES = 10 * 1000 * 1000  # 10 MB
# Images over this many pixels are refused outright (413): Pillow's default decompression-bomb threshold
# (PIL.Image.MAX_IMAGE_PIXELS as Pillow ships it, 89.5 megapixels), under its hard limit of twice that. Written
# out, not read from Pillow at import: the demos raise Pillow's global setting (cli.allow_large_images), and the
# service's limit must not depend on what was imported first. A 10 MB file can hold a PNG of a gigapixel of one colour.
MAX_IMAGE_PIXELS = 89_478_485


class UploadError(FaceKitError):
    """An upload the service refuses; ``status`` is the HTTP status that says why (400 or 413)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Photo:
    """An upload, read: ``image`` (RGB uint8, upright, its longest side at most images.MAX_SIDE), what detection
    sees and what is drawn on, and the original's upright ``width`` and ``height``."""

    image: NDArray[np.uint8]
    width: int
    height: int


def check_size(size: int, limit: int = MAX_UPLOAD_BYTES, told: int | None = None) -> None:
    """413 when ``size`` is over ``limit``; the message gives ``told`` (default: the limit), the upload limit a
    form's overhead was added to."""
    if size > limit:
        raise UploadError(f"upload too large: over {told or limit:,} bytes", status=413)


def check_pixels(data: bytes, max_pixels: int = MAX_IMAGE_PIXELS) -> None:
    """Refuses (413) an image whose header promises more than ``max_pixels``, before decoding it; says "not an
    image" (400) for a file Pillow does not recognise. Other faults are left to ``read_image_and_size``."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except Image.DecompressionBombError:
        raise UploadError(f"image too large: over {max_pixels:,} pixels", status=413) from None
    except UnidentifiedImageError:
        raise UploadError(f"not an image, or not a format this service reads: {len(data):,} bytes "
                          "(JPEG, PNG, WebP, BMP, TIFF, GIF are read)") from None
    except (OSError, SyntaxError, ValueError):
        return
    if width * height > max_pixels:
        raise UploadError(f"image too large: {width} x {height} pixels, over {max_pixels:,}", status=413)


def read_upload(data: bytes, max_pixels: int = MAX_IMAGE_PIXELS) -> Photo:
    """The bytes of an uploaded file -> a Photo. Raises UploadError: 400 for an empty, non-image or truncated
    file, 413 for one over ``max_pixels``."""
    if not data:
        raise UploadError("empty upload: send an image file")
    check_pixels(data, max_pixels)
    try:
        image, (width, height) = read_image_and_size(data)
    except FaceKitError as error:  # truncated or corrupt after a valid header
        raise UploadError(str(error)) from error
    return Photo(image, width, height)


def _malloc_trim() -> Callable[[int], Any] | None:
    """glibc's ``malloc_trim``, or None elsewhere."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


MALLOC_TRIM = _malloc_trim()


def release_memory() -> None:
    """Hands the memory freed after a large photo back to the system: glibc keeps freed blocks of its worker-thread
    arenas (a 9000 x 9000 PNG left about 1 GB behind per request) unless asked to trim them."""
    if MALLOC_TRIM is not None:
        MALLOC_TRIM(0)


def encode_jpeg(image_rgb: NDArray[np.uint8], quality: int = 92) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image_rgb).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()
