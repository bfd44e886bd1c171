"""Reading photos as the demos and training need them (RGB uint8, upright, bounded size), finding them in
folders, writing them."""
import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps, UnidentifiedImageError

from facekit.core.errors import FaceKitError, InputError
from facekit.core.outputs import write_bytes

# What the vision layer passes around (type aliases):
RgbImage: TypeAlias = NDArray[np.uint8]  # an RGB photo or crop (height, width, 3); crops are (N, size, size, 3)
Box: TypeAlias = tuple[int, int, int, int]  # a face's x, y, width, height in image pixels
Landmarks: TypeAlias = NDArray[np.float32]  # (5, 2) x, y in image pixels, in facekit/vision/detectors/base.py's order
ImageFile: TypeAlias = str | Path | bytes  # a photo's path, or the bytes of an image file

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")

# Longest side kept after reading. Faces stay large enough for detection and 200x200 crops, and a 100-megapixel
# photo no longer costs gigabytes or minutes of detection. JPEGs that large are decoded at reduced scale (draft).
MAX_SIDE = 4096
# Transparent pixels become white, as a viewer shows them on a page.
ALPHA_BACKGROUND = (255, 255, 255)
EXIF_ORIENTATION = 0x0112


def read_image(source: ImageFile) -> RgbImage:
    """The photo at ``source`` (a path, or the bytes of an image file) as an upright (EXIF orientation applied)
    RGB uint8 array (H, W, 3): ``read_image_and_size(source)`` without the size."""
    return read_image_and_size(source)[0]


def read_image_and_size(source: ImageFile, reduction: int = 1,
                        min_side: int = 0) -> tuple[RgbImage, tuple[int, int]]:
    """``(image, (width, height))``: the photo at ``source`` as an upright RGB uint8 array, and the upright size of
    the file's own image, which is larger than the array's when the photo was shrunk to MAX_SIDE.

    ``reduction`` (2, 4 or 8): a JPEG may be decoded up to that many times smaller than it is read by default
    (Pillow's draft: libjpeg decodes at 1/2, 1/4 or 1/8 of the size, several times faster than the whole size), as
    far as its longer side stays at least ``min_side`` pixels; other formats come whole, as by default. The array
    is then smaller than the size by the factor actually used (``reduced_by``).

    Grayscale is expanded to RGB (16-bit and floating-point grayscale scaled to 8 bits); transparency is
    composited onto white; the longest side is at most MAX_SIDE.
    Pillow's limit against decompression bombs (``PIL.Image.MAX_IMAGE_PIXELS``, 179 megapixels by default) is
    honoured, not changed: the demos raise it for large panoramas. Raises FaceKitError naming the file when it is
    missing, not an image, too large or corrupt.
    """
    name: str | Path
    file: io.BytesIO | Path
    if isinstance(source, (bytes, bytearray)):
        name, file = f"({len(source):,} bytes)", io.BytesIO(source)
    else:
        name = file = Path(source)
        if not file.is_file():
            if file.exists():  # a link to /dev/zero in a folder: not "broken", but no image file either
                raise InputError(f"not a regular file (a FIFO, a device or a socket): {name}")
            if file.is_symlink():
                raise InputError(f"broken symbolic link (its target is missing, or it loops): {name}")
            raise InputError(f"image not found: {name}")
    try:
        with Image.open(file) as image:
            width, height = image.size
            if image.getexif().get(EXIF_ORIENTATION) in (5, 6, 7, 8):  # a quarter turn swaps the sides
                width, height = height, width
            # JPEG only: decode at 1/2, 1/4 or 1/8 scale when large, or when a reduction is asked for
            image.draft("RGB", _draft_size(image.size, reduction, min_side))
            if image.mode in ("RGB", "RGBA", "L", "LA"):  # shrunk first: no full-size copy is ever made
                image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
            rgb = _to_rgb(ImageOps.exif_transpose(image))
            rgb.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
            return np.asarray(rgb, dtype=np.uint8), (width, height)
    except Image.DecompressionBombError as error:
        raise InputError(f"image too large: {name}: {error}") from error
    except (OSError, SyntaxError, ValueError) as error:
        # OSError covers UnidentifiedImageError and truncated files; SyntaxError and ValueError come from bad headers.
        # an UnidentifiedImageError's message names the file object, a BytesIO for bytes
        why = "not an image, or a format Pillow does not read" if isinstance(error, UnidentifiedImageError) else error
        raise InputError(f"cannot read image {name}: {why}") from error


def _draft_size(size: tuple[int, int], reduction: int, min_side: int) -> tuple[int, int]:
    """What to ask Pillow's ``draft`` for, in the file's own orientation (``size``): by default at least MAX_SIDE
    on both sides (a JPEG reduced only when even its shorter side is twice that); with a ``reduction``, the largest
    of 1/2, 1/4, 1/8 that keeps the longer side at least ``min_side`` and at least 1/``reduction`` of the side
    read_image gives (MAX_SIDE at most)."""
    if reduction <= 1:
        return MAX_SIDE, MAX_SIDE
    longer = max(size)
    wanted = max(min(longer, MAX_SIDE) / reduction, min_side)
    scale = next(scale for scale in (8, 4, 2, 1) if scale == 1 or -(-longer // scale) >= wanted)
    return max(1, size[0] // scale), max(1, size[1] // scale)  # draft then picks that scale (or less for a sliver)


def reduced_by(image: RgbImage, size: tuple[int, int]) -> float:
    """How many times smaller ``image`` is than the one ``read_image`` gives the file of that (width, height):
    1 unless ``read_image_and_size`` decoded it reduced."""
    return min(max(size), MAX_SIDE) / max(image.shape[:2])


def as_rgb(image: ImageFile | NDArray[Any]) -> RgbImage:
    """A path, the bytes of an image file, or an RGB uint8 array (H, W, 3) -> an RGB uint8 array."""
    if not isinstance(image, np.ndarray):
        return read_image(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise InputError(f"an image array must be RGB uint8 of shape (height, width, 3), "
                           f"not {image.dtype} of shape {image.shape}")
    return image


def _to_8bit(image: Image.Image) -> Image.Image:
    """Grayscale of more than 8 bits -> mode L: integers (I;16, I;16B, I;16L, I, as 16-bit PNGs and TIFFs open)
    scaled from 0..65535, floats (F) from 0..1 when they fit in it, else from 0..65535 too."""
    if image.mode not in ("I", "F") and not image.mode.startswith("I;16"):
        return image
    values = np.asarray(image, dtype=np.float64)
    finite = values[np.isfinite(values)]  # an all-NaN float image: no numpy warning, just black
    full_scale = 1.0 if image.mode == "F" and finite.size and finite.max() <= 1.0 else 65535.0
    eight_bit = np.clip(np.round(np.nan_to_num(values) * (255.0 / full_scale)), 0, 255).astype(np.uint8)
    return Image.fromarray(eight_bit, "L")


def _to_rgb(image: Image.Image) -> Image.Image:
    image = _to_8bit(image)
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, ALPHA_BACKGROUND + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def write_image(path: str | Path, image_rgb: RgbImage) -> None:
    """Saves an RGB uint8 array; the format follows the file extension (JPEG at quality 92). Encoded in memory,
    then written atomically and its size checked (``outputs.write_bytes``): Pillow's own file writing can return
    normally on a full disk, leaving a truncated file."""
    path = Path(path)
    options: dict[str, Any] = {"quality": 92} if path.suffix.lower() in (".jpg", ".jpeg") else {}
    try:
        image_format = Image.registered_extensions().get(path.suffix.lower())
        if image_format is None:
            raise ValueError(f"unknown file extension: {path.suffix}")
        encoded = io.BytesIO()
        Image.fromarray(image_rgb).save(encoded, format=image_format, **options)
        write_bytes(path, encoded.getvalue())
    except (OSError, ValueError, KeyError) as error:  # ValueError, KeyError: a format Pillow cannot write
        raise FaceKitError(f"cannot write image {path}: {getattr(error, 'strerror', None) or error}") from error


def images_in(folder: str | Path) -> list[Path]:
    """A folder's image files (by extension, not recursive), sorted by name; broken symbolic links among them are
    kept, so that reading them reports them."""
    return sorted(p for p in Path(folder).iterdir()
                  if (p.is_file() or p.is_symlink() and not p.is_dir()) and p.suffix.lower() in IMAGE_EXTENSIONS)


def find_images(inputs: Iterable[str | Path]) -> list[Path]:
    """Files and folders -> image paths: a file as given, a folder's images (by extension, not recursive, sorted).

    Raises FaceKitError for a path that does not exist or a folder without images.
    """
    paths: list[Path] = []
    for entry in map(Path, inputs):
        if entry.is_dir():
            found = images_in(entry)
            if not found:
                raise InputError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in folder {entry}")
            paths.extend(found)
        elif entry.is_file():
            paths.append(entry)
        elif entry.exists() or str(entry) == "-":  # a FIFO, a device, a socket, a process substitution, stdin
            raise InputError(f"input {entry} is not a regular file (a FIFO, a device or standard input): give "
                             "image files or folders")
        elif entry.is_symlink():
            raise InputError(f"input {entry} is a broken symbolic link")
        else:
            raise InputError(f"input not found: {entry}")
    return paths
