"""What a model is given (facekit/infer/face_crops.py): face crops checked, each problem in one line."""
import numpy as np
import pytest

from facekit.core.errors import InputError
from facekit.infer.face_crops import face_batch


def test_one_crop_many_crops_and_a_list_become_one_float32_batch():
    crop = np.full((8, 8, 3), 200, np.uint8)
    assert face_batch(crop).shape == (1, 8, 8, 3) and face_batch(crop).dtype == np.float32
    assert face_batch([crop, crop]).shape == (2, 8, 8, 3)
    assert face_batch(np.stack([crop] * 3).astype(np.int64)).shape == (3, 8, 8, 3)


@pytest.mark.parametrize("faces, message", [
    ([np.zeros((8, 8, 3)), np.zeros((9, 8, 3))], "face crops of different shapes"),
    (np.zeros((8, 8, 4)), "drop the alpha channel"),
    (np.zeros((0, 8, 3)), "empty face crop"),
    (np.full((8, 8, 3), np.nan), "NaN or infinite"),
    (np.full((8, 8, 3), 300.0), "RGB values 0-255, not 300 to 300"),
    (np.full((8, 8, 3), 0.5), "look scaled to 0..1"),
    (np.array([["a"]]), "arrays of numbers"),
])
def test_what_is_not_a_batch_of_rgb_crops_is_refused(faces, message):
    with pytest.raises(InputError, match=message):
        face_batch(faces)
