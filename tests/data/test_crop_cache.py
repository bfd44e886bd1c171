"""facekit.data.crop_cache: photos cropped once by the demos' detector and crop, cached by content, detector and
geometry; images without one clear face skipped and named. Real AAF and UTKFace faces where ../shared has them; the
README's photo (in the repository) otherwise."""
import dataclasses
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facekit.data import crop_cache
from facekit.data.samples import Samples
from facekit.vision import detectors
from facekit.vision.crop import UTKFACE_SIZE
from facekit.vision.detectors import detector_spec
from facekit.vision.detectors.yunet import YuNetDetector
from facekit.vision.images import read_image
from tests.face_scenes import README_PHOTO, README_PHOTO_BOXES
from tests.logged import logged_messages
from tests.shared_data import SHARED, UTKFACE

AAF = SHARED / "data" / "aaf"
needs_aaf = pytest.mark.skipif(not (AAF / "labels.csv").is_file(), reason=f"All-Age-Faces not found at {AAF}")
AAF_FILES = ("00000A02.jpg", "02043A25.jpg", "04080A33.jpg", "06131A48.jpg", "08229A16.jpg", "12396A55.jpg")


def no_detection(monkeypatch):
    """Any detection from now on fails the test: what follows must come from the cache."""
    def refuse(*args, **kwargs):
        raise AssertionError("detected again instead of reading the cache")
    monkeypatch.setattr(crop_cache, "create_detector", refuse)


def one_face_of_readme_photo(tmp_path, index=0):
    """One face of the README's photo with a margin, as its own file: a loosely framed single face."""
    x, y, w, h = README_PHOTO_BOXES[index]
    image = read_image(README_PHOTO)
    path = tmp_path / f"face{index}.png"
    Image.fromarray(image[max(0, y - h // 2):y + h + h // 2, max(0, x - w // 2):x + w + w // 2]).save(path)
    return path


def test_one_face_is_cropped_once_and_then_read_from_the_cache(project, tmp_path, monkeypatch):
    face = one_face_of_readme_photo(tmp_path)
    first = crop_cache.crop_images([face], progress=False)
    assert not first.skipped and first.crops[0] is not None
    crop = read_image(first.crops[0])
    assert crop.shape == (UTKFACE_SIZE, UTKFACE_SIZE, 3)
    assert first.crops[0].startswith(str(project / "train_data" / "crops"))
    no_detection(monkeypatch)
    assert crop_cache.crop_images([face], progress=False).crops == first.crops


def test_several_comparable_faces_and_no_face_are_skipped_named_and_remembered(project, tmp_path, monkeypatch):
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((300, 300, 3), 128, np.uint8)).save(blank)
    face = one_face_of_readme_photo(tmp_path)
    report = crop_cache.crop_images([README_PHOTO, blank, face], progress=False)
    assert report.skipped == {str(README_PHOTO): "3 faces", str(blank): "no face"}
    assert report.crops[:2] == [None, None] and report.crops[2] is not None
    summary = report.summary("photos")
    assert "1 faces cropped, 2 image(s) skipped" in summary and "blank.png (no face)" in summary
    no_detection(monkeypatch)  # the verdicts are cached too
    assert crop_cache.crop_images([README_PHOTO, blank, face], progress=False).skipped == report.skipped


def test_a_changed_file_or_crop_geometry_makes_new_crops(project, tmp_path, monkeypatch):
    face = one_face_of_readme_photo(tmp_path)
    before = crop_cache.crop_images([face], progress=False).crops[0]
    image = read_image(face).copy()
    image[0, 0] = 255 - image[0, 0]  # one pixel: another file
    Image.fromarray(image).save(face)
    changed = crop_cache.crop_images([face], progress=False).crops[0]
    assert changed != before
    folder = crop_cache.cache_folder()
    spec = detector_spec("yunet")
    wider = dataclasses.replace(spec, crop=spec.crop.scaled(1.3))
    monkeypatch.setitem(detectors.DETECTORS, "yunet", wider)
    assert crop_cache.cache_folder() != folder
    rescaled = crop_cache.crop_images([face], progress=False).crops[0]
    assert rescaled.startswith(str(crop_cache.cache_folder()))
    # The same face, cut 1.3 times wider: its middle is the old crop's whole, shrunk.
    old, new = read_image(changed).astype(np.float32), read_image(rescaled).astype(np.float32)
    inner = round(UTKFACE_SIZE / 1.3)
    start = (UTKFACE_SIZE - inner) // 2
    shrunk = np.asarray(Image.fromarray(old.astype(np.uint8)).resize((inner, inner), Image.LANCZOS), np.float32)
    assert np.abs(new[start:start + inner, start:start + inner] - shrunk).mean() < 12
    # the detector searching at another resolution: other landmarks, so other crops
    wider_folder = crop_cache.cache_folder()
    monkeypatch.setattr(YuNetDetector, "DEFAULT_MIN_FACE", 40)
    assert crop_cache.cache_folder() not in (folder, wider_folder)


def test_cropped_samples_keep_labels_and_drop_the_skipped(project, tmp_path):
    face = one_face_of_readme_photo(tmp_path)
    samples = Samples(np.array([str(face), str(README_PHOTO)]), np.array([30, 25]), np.array([1, 0]),
                      np.array([-1, -1]))
    with logged_messages() as messages:
        kept = crop_cache.cropped(samples, what="test")
    assert len(kept) == 1 and kept.ages.tolist() == [30] and kept.genders.tolist() == [1]
    assert kept.paths[0].endswith(".png") and "1 image(s) skipped" in messages[0]


@needs_aaf
def test_aaf_faces_are_cropped_like_utkface(project):
    """All-Age-Faces' aligned faces (more margin, black corners) come out framed as UTKFace's crops are: the eyes
    where the detector's template puts them."""
    report = crop_cache.crop_images([AAF / "images" / name for name in AAF_FILES], progress=False)
    assert not report.skipped
    template = detector_spec("yunet").crop.template
    detector = detectors.create_detector("yunet")
    errors = []
    for crop_path in report.crops:
        crop = read_image(crop_path)
        padded = np.pad(crop, ((100, 100), (100, 100), (0, 0)), constant_values=128)
        faces = detector.detect(padded)
        assert len(faces) == 1
        errors.append(np.abs(faces[0].landmarks[:2] - 100 - template[:2]))  # the eyes, found again in the crop
    # Within a few pixels of 200 (the five points are fitted together; found again at another scale).
    assert np.mean(errors) < 6 and np.max(errors) < 15, errors


@pytest.mark.skipif(not UTKFACE.is_dir(), reason=f"UTKFace not found at {UTKFACE}")
def test_a_utkface_crop_cropped_again_is_almost_itself(project):
    """The geometry was measured on UTKFace: its own crops, cropped again, barely move."""
    names = ("35_1_0_20170103163357623.jpg.chip.jpg", "42_0_1_20170113150918448.jpg.chip.jpg")
    report = crop_cache.crop_images([UTKFACE / name for name in names], progress=False)
    assert not report.skipped
    for name, crop_path in zip(names, report.crops):
        original = read_image(UTKFACE / name).astype(np.float32)
        again = read_image(crop_path).astype(np.float32)
        centre = slice(50, 150)
        assert np.abs(original[centre, centre] - again[centre, centre]).mean() < 25


def test_a_damaged_cached_crop_is_made_again(project, tmp_path, monkeypatch):
    """A cut crop PNG was never rebuilt: a TensorFlow traceback in validation, silently dropped in training
    (issue 28). FACEKIT_HOME is where the cache goes, as every other cache."""
    monkeypatch.setenv("FACEKIT_HOME", str(tmp_path / "home"))
    face = one_face_of_readme_photo(tmp_path)
    crop = Path(crop_cache.crop_images([face], progress=False).crops[0])
    assert crop.is_relative_to(tmp_path / "home" / "train_data" / "crops")
    whole = crop.read_bytes()
    crop.write_bytes(whole[: len(whole) // 2])
    again = crop_cache.crop_images([face], progress=False)
    assert again.crops == [str(crop)] and crop.read_bytes() == whole and read_image(crop).shape[0] == UTKFACE_SIZE
