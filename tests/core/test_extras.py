"""A light install (pip install . without an extra): a missing optional module is one line naming the extra to
install, simulated by hiding the module (sys.modules[name] = None makes its import fail)."""
import shutil
import sys

import numpy as np
import pytest

from facekit.apps import commands
from facekit.core import paths
from facekit.core.errors import FaceKitError
from facekit.core.extras import require
from facekit.infer.analyzer import FaceAnalyzer
from facekit.infer.model_metadata import metadata_path
from facekit.infer.predictors import load_predictor
from facekit.vision.detectors.mtcnn import MtcnnDetector


def hide(monkeypatch, *modules):
    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)


def test_require_names_the_extra_and_imports_what_is_there(monkeypatch):
    assert require("keras", "x") is sys.modules["keras"]
    hide(monkeypatch, "fastapi")
    with pytest.raises(FaceKitError,
                       match=r"^the page needs fastapi, which is not installed: pip install \.\[server\]$"):
        require("fastapi", "the page")


def test_an_onnx_model_without_onnxruntime_names_the_onnx_extra(monkeypatch, tmp_path):
    model = tmp_path / "model.onnx"
    model.write_bytes(b"not read")
    shutil.copy(metadata_path(paths.default_model()), metadata_path(model))
    hide(monkeypatch, "onnxruntime")
    with pytest.raises(FaceKitError, match=r"\.onnx models \(model\.onnx\) needs onnxruntime.*pip install \.\[onnx\]"):
        load_predictor(model)


def test_a_keras_model_without_keras_names_the_train_extra(monkeypatch, tiny_model_file):
    hide(monkeypatch, "keras")
    with pytest.raises(FaceKitError, match=r"\.keras models needs keras.*pip install \.\[train\]"):
        load_predictor(tiny_model_file)


def test_the_mtcnn_detector_without_mtcnn_names_the_train_extra(monkeypatch):
    hide(monkeypatch, "mtcnn")
    with pytest.raises(FaceKitError, match=r"the mtcnn detector needs mtcnn.*pip install \.\[train\]"):
        MtcnnDetector().detect(np.zeros((64, 64, 3), np.uint8))


@pytest.mark.parametrize("command, name, module, extra", [(commands.face_server, "face-server", "uvicorn", "server"),
                                                           (commands.face_train, "face-train", "keras", "train"),
                                                           (commands.face, "face", "keras", "train")])
def test_a_command_without_its_extra_is_one_line_and_exit_status_2(command, name, module, extra, monkeypatch,
                                                                  capsys):
    hide(monkeypatch, module)
    with pytest.raises(SystemExit) as exit_info:
        command()
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: {name} needs {module}, which is not installed: pip install .[{extra}]"]


def test_a_missing_default_model_says_to_pass_one(monkeypatch, tmp_path):
    monkeypatch.setattr(paths, "default_model", lambda suffix=".tflite": tmp_path / f"absent{suffix}")
    with pytest.raises(FaceKitError,
                       match=r"the default model .*absent\.tflite is not installed here: pass --model PATH"):
        FaceAnalyzer(None, "haar")
