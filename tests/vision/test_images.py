"""read_image: EXIF orientation, grayscale, transparency, very large images, one-line errors; find_images."""
import os
import warnings

import cv2
import numpy as np
import pytest
from PIL import Image

from facekit.apps import cli
from facekit.core.errors import InputError
from facekit.vision import images
from facekit.vision.images import find_images, read_image


def test_exif_orientation_is_applied(tmp_path):
    # A landscape JPEG whose EXIF says "rotate 90 degrees clockwise to view" (orientation 6), left half black.
    pixels = np.full((100, 200, 3), 255, np.uint8)
    pixels[:, :100] = 0
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.jpg"
    Image.fromarray(pixels).save(path, exif=exif)
    image = read_image(path)
    assert image.shape == (200, 100, 3)
    assert image[:90].mean() < 20 and image[110:].mean() > 235  # the black half is now on top


def test_grayscale_becomes_rgb(tmp_path):
    path = tmp_path / "gray.png"
    Image.fromarray(np.full((30, 40), 77, np.uint8), mode="L").save(path)
    image = read_image(path)
    assert image.shape == (30, 40, 3) and image.dtype == np.uint8 and np.all(image == 77)


def test_transparency_composited_on_white(tmp_path):
    rgba = np.zeros((20, 20, 4), np.uint8)
    rgba[..., 0] = 255  # red
    rgba[:, 10:, 3] = 255  # right half opaque, left half transparent
    path = tmp_path / "alpha.png"
    Image.fromarray(rgba, mode="RGBA").save(path)
    image = read_image(path)
    assert image.shape == (20, 20, 3)
    assert np.all(image[:, :10] == 255) and np.all(image[:, 10:] == (255, 0, 0))


def test_pillows_limit_is_honoured_and_raised_only_by_the_demos(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    Image.fromarray(np.full((1500, 2000, 3), 9, np.uint8)).save(path)
    # Stand-ins for Pillow's 179-megapixel refusal, the demos' limit and our cap, at a size a test can afford.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    monkeypatch.setattr(cli, "LARGE_IMAGE_PIXELS", 2_000_000)
    monkeypatch.setattr(images, "MAX_SIDE", 500)
    with pytest.raises(InputError, match="image too large: .*big.png: .*exceeds limit of 2000 pixels") as caught:
        read_image(path)
    assert "\n" not in str(caught.value)
    assert Image.MAX_IMAGE_PIXELS == 1000  # reading changes no global setting
    with warnings.catch_warnings():
        cli.allow_large_images()  # what face_demo.main does
        assert read_image(path).shape == (375, 500, 3)
    assert Image.MAX_IMAGE_PIXELS == 2_000_000


@pytest.mark.parametrize("content", [b"", b"not an image at all", b"\xff\xd8\xff\xe0" + b"\x00" * 50],
                         ids=["empty", "text", "jpeg-header-only"])
def test_corrupt_file_names_the_file_in_one_line(tmp_path, content):
    path = tmp_path / "broken.jpg"
    path.write_bytes(content)
    with pytest.raises(InputError, match="cannot read image .*broken.jpg") as caught:
        read_image(path)
    assert "\n" not in str(caught.value)


def test_truncated_jpeg_is_an_error(tmp_path):
    whole = tmp_path / "whole.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 200, 3), np.uint8)).save(whole)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(whole.read_bytes()[:2000])
    with pytest.raises(InputError, match="cut.jpg"):
        read_image(cut)


def test_bytes_and_arrays_are_images_too(tmp_path):
    path = tmp_path / "photo.png"
    pixels = np.random.default_rng(0).integers(0, 256, (30, 40, 3), np.uint8)
    Image.fromarray(pixels).save(path)
    np.testing.assert_array_equal(read_image(path.read_bytes()), pixels)
    np.testing.assert_array_equal(images.as_rgb(str(path)), pixels)
    assert images.as_rgb(pixels) is pixels
    with pytest.raises(InputError, match=r"cannot read image \(9 bytes\)"):
        read_image(b"not a png")
    with pytest.raises(InputError,
                       match=r"RGB uint8 of shape \(height, width, 3\), not float32 of shape \(30, 40, 3\)"):
        images.as_rgb(pixels.astype(np.float32) / 255)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="image not found: .*nothing.jpg"):
        read_image(tmp_path / "nothing.jpg")


def test_find_images_expands_folders_and_keeps_files(tmp_path):
    for name in ("b.JPG", "a.png", "notes.txt", "c.jpeg"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    extra = tmp_path / "sub" / "named.weird"
    extra.write_bytes(b"x")
    found = find_images([tmp_path, extra])
    assert [p.name for p in found] == ["a.png", "b.JPG", "c.jpeg", "named.weird"]


def test_find_images_errors(tmp_path):
    with pytest.raises(InputError, match="input not found: .*absent"):
        find_images([tmp_path / "absent"])
    with pytest.raises(InputError, match="no images .* in folder"):
        find_images([tmp_path])


@pytest.mark.parametrize("mode", ["I;16", "I;16B", "I", "F"])
def test_more_than_8_bit_grayscale_is_scaled_to_8_bits(mode, tmp_path):
    """A 16-bit grayscale PNG (mode I;16) was read as all white; every deep grayscale mode now keeps its shades."""
    shades = np.tile(np.linspace(0, 255, 64).round().astype(np.uint8), (16, 1))  # a left-to-right ramp
    full_scale = {"F": 1.0}.get(mode, 65535.0)
    values = shades.astype(np.float64) * full_scale / 255
    if mode == "F":
        deep = Image.fromarray(values.astype(np.float32), "F")
    else:
        deep = Image.fromarray(values.round().astype(np.uint16)).convert("I")
        if mode != "I":
            order = ">u2" if mode == "I;16B" else "<u2"
            deep = Image.frombytes(mode, deep.size, values.round().astype(order).tobytes())
    path = tmp_path / ("deep.tif" if mode in ("I", "F", "I;16B") else "deep.png")
    deep.save(path)
    with Image.open(path) as reopened:
        assert reopened.mode == mode
    image = read_image(path)
    assert image.shape == (16, 64, 3) and image.dtype == np.uint8
    np.testing.assert_allclose(image[..., 0].astype(int), shades.astype(int), atol=1)
    assert (image[..., 0] == image[..., 2]).all()


def test_broken_symbolic_links_are_kept_and_reported(tmp_path):
    (tmp_path / "dangling.jpg").symlink_to(tmp_path / "deleted.jpg")
    (tmp_path / "loop.png").symlink_to(tmp_path / "loop.png")
    found = find_images([tmp_path])
    assert [p.name for p in found] == ["dangling.jpg", "loop.png"]
    for path in found:
        with pytest.raises(InputError, match=f"broken symbolic link .*: {path}$"):
            read_image(path)


def test_a_shrunk_photo_keeps_its_files_size(tmp_path, monkeypatch):
    monkeypatch.setattr(images, "MAX_SIDE", 50)
    exif = Image.Exif()
    exif[0x0112] = 6  # shown a quarter turn clockwise: 80 wide, 200 high
    Image.fromarray(np.zeros((80, 200, 3), np.uint8)).save(tmp_path / "turned.jpg", exif=exif)
    image, size = images.read_image_and_size(tmp_path / "turned.jpg")
    assert image.shape == (50, 20, 3) and size == (80, 200)


def test_inputs_that_exist_but_are_not_image_files_are_named_for_what_they_are(tmp_path):
    """A FIFO, /dev/zero, "-" or a link to a device were "input not found"; a link to /dev/zero in a folder was
    called a broken link (issue 28)."""
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    (tmp_path / "zero.jpg").symlink_to("/dev/zero")
    for entry in (fifo, "/dev/zero", "-", tmp_path / "zero.jpg"):
        with pytest.raises(InputError, match="is not a regular file"):
            find_images([entry])
    (tmp_path / "gone.jpg").symlink_to(tmp_path / "missing.jpg")
    with pytest.raises(InputError, match="is a broken symbolic link"):
        find_images([tmp_path / "gone.jpg"])
    with pytest.raises(InputError, match="input not found"):
        find_images([tmp_path / "absent.jpg"])
    with pytest.raises(InputError, match="not a regular file .*zero.jpg"):
        read_image(tmp_path / "zero.jpg")  # inside a folder: found, then refused when read


def test_an_all_nan_float_tiff_reads_without_a_numpy_warning(tmp_path):
    """It printed numpy's "All-NaN slice encountered" RuntimeWarning with a source line (issue 28)."""
    path = tmp_path / "nan.tif"
    Image.fromarray(np.full((8, 8), np.nan, np.float32), mode="F").save(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        image = read_image(path)
    assert image.shape == (8, 8, 3) and (image == 0).all()


def smooth_photo(height, width):
    """A photo with detail at every scale but no noise: a JPEG of it decoded reduced is close to it shrunk."""
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    channels = [np.sin(9 * x + 4 * y), np.cos(7 * y - 3 * x), np.sin(5 * (x + y)) * np.cos(11 * x)]
    return np.stack([(127.5 + 120 * c).astype(np.uint8) for c in channels], axis=2)


def test_a_jpeg_is_decoded_reduced_only_as_far_as_asked(tmp_path):
    """read_image_and_size(path, reduction, min_side): Pillow's draft at 1/2, 1/4 or 1/8, never below min_side on
    the longer side; the size is the file's; other formats and small JPEGs come whole."""
    pixels = smooth_photo(1200, 1600)
    Image.fromarray(pixels).save(tmp_path / "large.jpg", quality=95)
    Image.fromarray(pixels).save(tmp_path / "large.png")
    Image.fromarray(pixels[:300, :400]).save(tmp_path / "small.jpg")
    read = images.read_image_and_size
    for reduction, min_side, shape in ((1, 0, (1200, 1600)), (2, 0, (600, 800)), (4, 320, (300, 400)),
                                       (8, 320, (300, 400)), (8, 0, (150, 200)), (4, 500, (600, 800))):
        image, size = read(tmp_path / "large.jpg", reduction, min_side)
        assert image.shape[:2] == shape and size == (1600, 1200), (reduction, min_side)
        assert images.reduced_by(image, size) == 1600 / shape[1]
    reduced, _ = read(tmp_path / "large.jpg", 4)
    shrunk = cv2.resize(pixels, (400, 300), interpolation=cv2.INTER_AREA)
    assert np.abs(reduced.astype(int) - shrunk).mean() < 3  # libjpeg's scaled decode: the photo, shrunk
    assert read(tmp_path / "large.png", 8)[0].shape == (1200, 1600, 3)
    assert read(tmp_path / "small.jpg", 8, 320)[0].shape == (300, 400, 3)


@pytest.mark.parametrize("orientation, turn", [(6, 1), (8, 3)])  # shown turned clockwise / counter-clockwise
def test_a_jpeg_decoded_reduced_is_still_upright(tmp_path, orientation, turn):
    upright = smooth_photo(1200, 800)
    upright[:300] = 0  # the top quarter black
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(np.rot90(upright, turn)).save(tmp_path / "turned.jpg", exif=exif, quality=95)  # stored turned
    image, size = images.read_image_and_size(tmp_path / "turned.jpg", 4, 0)
    assert image.shape == (300, 200, 3) and size == (800, 1200) and images.reduced_by(image, size) == 4
    assert image[:70].mean() < 5 and image[80:].mean() > 60  # the black quarter on top, as viewers show it
    whole = cv2.resize(images.read_image(tmp_path / "turned.jpg"), (200, 300), interpolation=cv2.INTER_AREA)
    assert np.abs(image.astype(int) - whole).mean() < 3


def test_a_reduction_past_max_side_is_counted_from_max_side(tmp_path, monkeypatch):
    """Over MAX_SIDE a photo is shrunk to it anyway: the reduction is counted from there."""
    monkeypatch.setattr(images, "MAX_SIDE", 500)
    Image.fromarray(smooth_photo(1500, 2000)).save(tmp_path / "huge.jpg")
    assert images.read_image_and_size(tmp_path / "huge.jpg")[0].shape == (375, 500, 3)
    image, size = images.read_image_and_size(tmp_path / "huge.jpg", 2)
    assert image.shape == (188, 250, 3) and size == (2000, 1500) and images.reduced_by(image, size) == 2
