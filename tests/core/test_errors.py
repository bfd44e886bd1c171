"""The error types: one base the scripts show as one line, and a kind per cause that callers can catch."""
import numpy as np
import pytest

from facekit.backbones.preprocessing import normalization
from facekit.core.errors import DataError, FaceKitError, InputError, ModelError
from facekit.core.labels import AgeBins
from facekit.data.datasets import read_dataset
from facekit.infer.predictors import load_predictor
from facekit.vision.images import as_rgb
from facekit.vision.tracking import FaceTracks


def test_every_kind_is_a_facekit_error_and_a_bad_input_is_also_a_value_error():
    assert all(issubclass(kind, FaceKitError) for kind in (InputError, ModelError, DataError))
    assert issubclass(InputError, ValueError) and not issubclass(ModelError, ValueError)


@pytest.mark.parametrize("call, kind", [
    (lambda: AgeBins(start=10, stop=5), InputError),
    (lambda: normalization("sepia"), InputError),
    (lambda: FaceTracks(smoothing=1.5), InputError),
    (lambda: as_rgb(np.zeros((4, 4), np.float32)), InputError),
], ids=["age-bins", "normalisation", "tracking-smoothing", "image-array"])
def test_bad_values_are_input_errors_not_bare_value_errors(call, kind):
    with pytest.raises(kind) as error:
        call()
    assert type(error.value) is kind


def test_a_missing_model_is_a_model_error_and_a_missing_dataset_a_data_error(tmp_path):
    with pytest.raises(ModelError, match="model file not found"):
        load_predictor(tmp_path / "absent.tflite")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError):
        read_dataset(tmp_path / "empty")


def test_a_long_list_is_named_by_its_first_few():
    from facekit.core.errors import first_few
    assert first_few(["a", "b"]) == "a, b"
    assert first_few(range(7)) == "0, 1, 2, 3, 4 ..."
    assert first_few(["x", "y", "z", "w"], "; ", count=3) == "x; y; z ..."
