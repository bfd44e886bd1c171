"""Reading photos as the demos need them (RGB uint8, upright, bounded size), finding them in folders, writing them."""
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from facekit.errors import FaceKitError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")

# Longest side kept after reading. Faces stay large enough for detection and 200x200 crops, and a 100-megapixel
# photo no longer costs gigabytes or minutes of detection.
MAX_SIDE = 4096
# Pillow warns above 89 MP and refuses above 179 MP (decompression bombs). Real panoramas and scans exceed that;
# this limit, checked on the header, still refuses absurd sizes, and JPEGs are decoded at reduced scale (draft).
MAX_INPUT_PIXELS = 1_000_000_000
# Transparent pixels become white, as a viewer shows them on a page.
ALPHA_BACKGROUND = (255, 255, 255)


def read_image(path):
    """The photo at ``path`` as an upright (EXIF orientation applied) RGB uint8 array (H, W, 3).

    Grayscale is expanded to RGB; transparency is composited onto white; the longest side is at most MAX_SIDE.
    Raises FaceKitError naming the file when it is missing, not an image, or corrupt.
    """
    path = Path(path)
    if not path.is_file():
        raise FaceKitError(f"image not found: {path}")
    previous_limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # replaced by the check on MAX_INPUT_PIXELS below
    try:
        with Image.open(path) as image:
            if image.width * image.height > MAX_INPUT_PIXELS:
                raise FaceKitError(f"image too large: {path} is {image.width}x{image.height} pixels")
            image.draft("RGB", (MAX_SIDE, MAX_SIDE))  # JPEG only: decode at 1/2, 1/4 or 1/8 scale when large
            image = ImageOps.exif_transpose(image)
            image = _to_rgb(image)
            image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
            return np.asarray(image, dtype=np.uint8)
    except (OSError, SyntaxError, ValueError) as error:
        # OSError covers UnidentifiedImageError and truncated files; SyntaxError and ValueError come from bad headers.
        raise FaceKitError(f"cannot read image {path}: {error}") from None
    finally:
        Image.MAX_IMAGE_PIXELS = previous_limit


def _to_rgb(image):
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, ALPHA_BACKGROUND + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def write_image(path, image_rgb):
    """Saves an RGB uint8 array; the format follows the file extension (JPEG at quality 92)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    options = {"quality": 92} if path.suffix.lower() in (".jpg", ".jpeg") else {}
    try:
        Image.fromarray(image_rgb).save(path, **options)
    except (OSError, ValueError) as error:  # ValueError: an extension Pillow cannot write
        raise FaceKitError(f"cannot write image {path}: {error}") from None


def images_in(folder):
    """A folder's image files (by extension, not recursive), sorted by name."""
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def find_images(inputs):
    """Files and folders -> image paths: a file as given, a folder's images (by extension, not recursive, sorted).

    Raises FaceKitError for a path that does not exist or a folder without images.
    """
    paths = []
    for entry in map(Path, inputs):
        if entry.is_dir():
            found = images_in(entry)
            if not found:
                raise FaceKitError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in folder {entry}")
            paths.extend(found)
        elif entry.is_file():
            paths.append(entry)
        else:
            raise FaceKitError(f"input not found: {entry}")
    return paths
