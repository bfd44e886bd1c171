"""The tf.data pipeline on tiny synthetic UTKFace files (no ../shared needed): images keep their labels, the reader
is the demos', corrupt images are skipped in training, augmentation and mixup do what they say."""
import shutil

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from facekit.core.labels import AgeBins, race_label_masks
from facekit.data.datasets import read_dataset
from facekit.train.pipeline import Augmentation, _mixup, augment, decode_resize, image_batches, labels_for, make_dataset
from facekit.vision.images import read_image

SIZE = 32


@pytest.fixture(scope="module")
def samples(tiny_utkface):
    return read_dataset(tiny_utkface)


def test_batches_keep_labels_with_their_images(samples):
    bins = AgeBins()
    decoded = {i: decode_resize(p, SIZE).numpy().round() for i, p in enumerate(samples.paths)}
    labels = labels_for(samples, bins, age_sigma=0.0)
    ds = make_dataset(samples, labels, SIZE, batch_size=8, training=True, augmentation=Augmentation.off(), seed=3)
    seen = 0
    for images, y in ds:
        assert images.dtype == "float32" and images.shape[1:] == (SIZE, SIZE, 3)
        # age: an exact age's distribution, then an interval's mask (none here); race: FairFace's seven classes
        assert y["age"].shape[1] == 2 * 101 and y["gender"].shape[1] == 2 and y["race"].shape[1] == 7
        assert not y["age"].numpy()[:, 101:].any()
        for image, age, gender, race in zip(images.numpy(), y["age"].numpy(), y["gender"].numpy(), y["race"].numpy()):
            match = min(decoded, key=lambda i: np.abs(decoded[i] - image).mean())
            assert np.abs(decoded[match] - image).max() < 0.01
            assert (age.argmax(), gender.argmax(), race_label_masks()[samples.races[match]].tolist()) == (
                bins.to_bin(samples.ages[match]), samples.genders[match], race.tolist())
            seen += 1
    assert seen == len(samples)


def test_image_batches_keep_the_order_and_mirror_on_request(samples):
    first = samples.subset(np.arange(10))
    plain = np.concatenate([batch.numpy() for batch in image_batches(first, SIZE, 4)])
    mirrored = np.concatenate([batch.numpy() for batch in image_batches(first, SIZE, 4, flip=True)])
    expected = np.stack([decode_resize(p, SIZE).numpy().round() for p in first.paths])
    np.testing.assert_array_equal(plain, expected)
    np.testing.assert_array_equal(mirrored, expected[:, :, ::-1])


def test_pipeline_reads_images_as_the_demos_do(tmp_path):
    """One reader: EXIF orientation is honoured in training too."""
    pixels = np.full((40, 80, 3), 255, np.uint8)
    pixels[:, :40] = 0  # landscape, left half black; EXIF says: rotate 90 degrees clockwise to view
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(pixels).save(tmp_path / "rotated.jpg", exif=exif)
    decoded = decode_resize(str(tmp_path / "rotated.jpg"), SIZE).numpy()
    upright = tf.image.resize(read_image(tmp_path / "rotated.jpg").astype(np.float32), (SIZE, SIZE), antialias=True)
    np.testing.assert_allclose(decoded, upright.numpy(), atol=1e-3)
    assert decoded[:12].mean() < 30 and decoded[20:].mean() > 225  # the black half on top, as in the demos


def test_an_image_corrupt_past_its_header_is_skipped_in_training(samples, tmp_path):
    """Its header passes the reader's cheap check; decoding it fails, and training goes on without it."""
    for path in samples.paths[:6]:
        shutil.copy(path, tmp_path)
    whole = (tmp_path / samples.names[0]).read_bytes()
    (tmp_path / samples.names[0]).write_bytes(whole[: whole.index(b"\xff\xda") + 20])  # cut just into the scan
    few = read_dataset(tmp_path)
    assert len(few) == 6  # the truncated file's header still reads
    ds = make_dataset(few, labels_for(few, AgeBins(), 2.0), SIZE, 4, training=True, augmentation=Augmentation.off())
    assert sum(len(images) for images, _ in ds) == 5


def test_mixup_mixes_images_and_labels_with_the_same_weights():
    values = tf.constant([0.0, 60.0, 120.0, 240.0])
    images = tf.ones((4, 8, 8, 3)) * values[:, None, None, None]
    labels = {"gender": tf.stack([values / 255.0, 1 - values / 255.0], axis=1)}
    mixed_images, mixed_labels = _mixup(images, labels, alpha=0.4)
    pixel = mixed_images.numpy()[:, 0, 0, 0]
    np.testing.assert_allclose(mixed_images.numpy(), pixel[:, None, None, None] * np.ones((4, 8, 8, 3)), atol=1e-3)
    np.testing.assert_allclose(mixed_labels["gender"].numpy()[:, 0] * 255.0, pixel, atol=1e-3)


def test_near_zero_augmentation_is_the_identity(samples):
    image = decode_resize(samples.paths[0], 48)[None]  # a batch of one
    tiny = Augmentation(flip=False, rotation=1e-4, scale=1e-6, shift=1e-6, brightness=0.0, contrast=0.0, erase=0.0)
    np.testing.assert_allclose(augment(image, tiny, 48).numpy(), image.numpy(), atol=0.5)
    np.testing.assert_array_equal(augment(image, Augmentation.off(), 48).numpy(), image.numpy())
    rotation = Augmentation(flip=False, rotation=30, scale=0, shift=0, brightness=0, contrast=0, erase=0)
    # The angle is uniform in +-30 degrees, so one draw may be tiny; the largest of eight is not.
    changes = [np.abs(augment(image, rotation, 48).numpy() - image.numpy()).mean() for _ in range(8)]
    assert max(changes) > 5  # a real rotation does change the image


def test_batched_augmentation_draws_for_each_image(samples):
    image = decode_resize(samples.paths[0], 48)
    batch = augment(tf.stack([image] * 8), Augmentation(flip=False, erase=0.0), 48).numpy()
    assert batch.shape == (8, 48, 48, 3) and batch.min() >= 0 and batch.max() <= 255
    # Eight copies of one image, eight different warps and colour changes: no two outputs alike.
    differences = [np.abs(batch[i] - batch[j]).mean() for i in range(8) for j in range(i + 1, 8)]
    assert min(differences) > 0.5


def test_augmentation_and_mixup_keep_targets_valid(samples):
    ds = make_dataset(samples, labels_for(samples, AgeBins(), 2.0), SIZE, 16, training=True,
                      augmentation=Augmentation(mixup=0.4), seed=0)
    images, y = next(iter(ds))
    assert np.isfinite(images.numpy()).all()
    np.testing.assert_allclose(y["age"].numpy()[:, :101].sum(axis=1), 1.0, rtol=1e-5)  # exact ages: distributions
    np.testing.assert_allclose(y["gender"].numpy().sum(axis=1), 1.0, rtol=1e-5)
    race = y["race"].numpy()  # masks of a class or a set (UTKFace's Asian, Others), mixed: in [0, 1], none empty
    assert (race >= 0).all() and (race <= 1 + 1e-6).all() and (race.max(axis=1) > 0).all()
    # Mixup with alpha 0.4 almost surely leaves some gender target strictly between 0 and 1.
    assert ((y["gender"].numpy() > 0.01) & (y["gender"].numpy() < 0.99)).any()


def test_the_image_cache_never_gives_the_labels_of_an_earlier_run(tiny_utkface, tmp_path):
    """The cache holds images and labels but was keyed by paths and size: relabelled data trained on old labels."""
    shutil.copytree(tiny_utkface, tmp_path / "data")
    samples = read_dataset(tmp_path / "data")
    bins, cache = AgeBins(), tmp_path / "cache"

    def seen(samples, labels):
        ds = make_dataset(samples, labels, SIZE, batch_size=64, training=False, cache_dir=cache)
        return [(x.numpy(), y["gender"].numpy().argmax(1)) for x, y in ds]

    def genders_seen(labels):
        return np.concatenate([genders for _, genders in seen(samples, labels)])

    labels = labels_for(samples, bins, age_sigma=2.0)
    assert (genders_seen(labels) == samples.genders).all()  # the first pass writes the cache
    flipped = {**labels, "gender": labels["gender"][:, ::-1].copy()}
    assert (genders_seen(flipped) == 1 - samples.genders).all()
    assert (genders_seen(labels) == samples.genders).all()  # the first cache still serves the first labels
    one = samples.subset(np.array([0]))
    one_labels = {k: v[:1] for k, v in labels.items()}
    seen(one, one_labels)
    Image.fromarray(255 - read_image(one.paths[0])).save(one.paths[0], format="JPEG")  # replaced under its name
    [(images, _)] = seen(one, one_labels)
    np.testing.assert_allclose(images[0], decode_resize(one.paths[0], SIZE).numpy().round(), atol=0.01)
