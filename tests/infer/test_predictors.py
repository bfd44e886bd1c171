"""The one loader (facekit/infer/predictors.py): clear errors; and the demos, facekit.analyze and the video loop run an
exported model with an OpenCV detector without importing TensorFlow."""
import contextlib
import json
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from facekit.core import paths
from facekit.core.errors import InputError, ModelError
from facekit.infer import predictors
from facekit.infer.analyzer import FaceAnalyzer
from facekit.infer.model_metadata import metadata_path
from facekit.infer.predictors import load_predictor
from facekit.vision.images import write_image
from tests.face_scenes import SCENE_FACES, compose, fixture_face

PROJECT = Path(__file__).resolve().parents[2]


def test_unknown_suffix_missing_file_and_missing_metadata_are_one_line_errors(tmp_path):
    with pytest.raises(ModelError, match=r"unknown model file type model\.pt: use one of \.keras, \.tflite, \.onnx"):
        load_predictor(tmp_path / "model.pt")
    with pytest.raises(ModelError, match="model file not found"):
        load_predictor(tmp_path / "absent.tflite")
    bare = tmp_path / "bare.tflite"
    bare.write_bytes(paths.default_model().read_bytes())
    with pytest.raises(ModelError, match="has no metadata file bare.tflite.json beside it"):
        load_predictor(bare)
    metadata_path(bare).write_text("{not json")
    with pytest.raises(ModelError, match="is not JSON"):
        load_predictor(bare)
    metadata = json.loads(metadata_path(paths.default_model()).read_text())
    metadata["labels"]["race"] = ["a", "b"]
    metadata_path(bare).write_text(json.dumps(metadata))
    with pytest.raises(ModelError, match="names other labels or outputs"):
        load_predictor(bare)


def test_corrupt_exported_file_is_a_one_line_error(tmp_path):
    for suffix in (".tflite", ".onnx"):
        bad = tmp_path / f"bad{suffix}"
        bad.write_bytes(b"not a model")
        metadata_path(bad).write_text(metadata_path(paths.default_model()).read_text())
        with pytest.raises(ModelError, match=f"cannot load .* model {bad}"):
            load_predictor(bad)


def test_batches_of_any_size_give_the_same_results():
    predictor = load_predictor(paths.default_model())
    crops = np.random.default_rng(0).integers(0, 256, (10, 80, 80, 3), dtype=np.uint8)
    whole = predictor.probabilities(crops)["age"]
    parts = np.concatenate([predictor.probabilities(crops[i:i + 3], batch_size=3)["age"] for i in range(0, 10, 3)])
    np.testing.assert_allclose(whole, parts, atol=1e-6)
    assert predictor.predict(crops[:0]) == [] and len(predictor.predict(crops[0])) == 1


def test_litert_silences_stderr_once_at_load_never_around_a_prediction(monkeypatch):
    """The fd-2 redirection is process-wide: done at load, in the loading thread, not in the video demo's worker
    threads while they predict."""
    silenced = []

    @contextlib.contextmanager
    def counted():
        silenced.append(threading.current_thread().name)
        yield

    monkeypatch.setattr(predictors, "_stderr_silenced", counted)
    predictor = load_predictor(paths.default_model())
    assert silenced == [threading.current_thread().name]
    crops = np.random.default_rng(0).integers(0, 256, (5, 80, 80, 3), dtype=np.uint8)
    worker = threading.Thread(target=lambda: [predictor.predict(crops[:n]) for n in (1, 5, 2)])
    worker.start()
    worker.join(timeout=60)
    assert len(silenced) == 1


def test_an_exported_model_refuses_crops_that_are_not_rgb_0_255():
    """As face.predict does (facekit/infer/face_crops.py): floats in 0..1 would silently give another person."""
    predictor = load_predictor(paths.default_model())
    crops = np.random.default_rng(0).integers(0, 256, (2, 80, 80, 3)).astype(np.float32)
    for bad, message in ((crops / 255, "scaled to 0..1"), (crops[..., :2], "must be RGB"),
                         ([crops[0], crops[1, :40]], "different shapes")):
        with pytest.raises(InputError, match=message):
            predictor.predict(bad)


NO_TENSORFLOW = """
import sys
import face_demo, face_video_demo, facekit
photo, video, out = sys.argv[1:4]
for main, argv in ((face_demo.main, [photo, "--output", out + "/photo.jpg", "--json", out + "/faces.json"]),
                   (face_video_demo.main, ["--source", video, "--output", out + "/video.mp4", "--no-display",
                                           "--smooth"])):
    try:
        main(argv)
    except SystemExit as exit:
        assert not exit.code, exit.code
faces = facekit.analyze(photo)
analyzer = facekit.FaceAnalyzer()
assert analyzer.analyze(photo) == faces
print(len(faces), "faces;", "tensorflow" in sys.modules, "keras" in sys.modules)
"""


@pytest.mark.slow
def test_demos_and_facade_import_no_tensorflow_with_the_default_model(tmp_path):
    image, _ = compose((480, 640), [(0, 220, 120, 200)])
    write_image(tmp_path / "one.jpg", image)
    writer = cv2.VideoWriter(str(tmp_path / "one.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10, (640, 480))
    for _ in range(5):
        writer.write(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    writer.release()
    result = subprocess.run([sys.executable, "-c", NO_TENSORFLOW, str(tmp_path / "one.jpg"), str(tmp_path / "one.mp4"),
                             str(tmp_path)], cwd=PROJECT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "1 faces; False False"
    assert "XNNPACK" not in result.stderr  # LiteRT's start-up line stays out of the demos' output
    assert "5 frames (5 analysed)" in result.stdout
    assert len(json.loads((tmp_path / "faces.json").read_text())[0]["faces"]) == 1


@pytest.mark.slow
def test_every_runtime_finds_the_same_faces_and_predicts_as_keras(four_faces_scene, tmp_path):
    """The whole path (YuNet, crops, model) with the default model as .keras, its shipped .tflite and an .onnx
    export: the same boxes, and probabilities within the export's tolerance."""
    from facekit.export.exporter import export_model  # TensorFlow: only this test needs it
    image, placed = four_faces_scene
    faces = tmp_path / "faces"  # the scene's faces, for the export's own check against Keras
    faces.mkdir()
    for index in range(SCENE_FACES):
        write_image(faces / f"{index}.jpg", fixture_face(index))
    onnx, _ = export_model(paths.default_model(".keras"), "onnx", output=tmp_path / "default.onnx", faces_folder=faces)
    results = {path.suffix: [face.to_dict() for face in FaceAnalyzer(path).analyze(image)]
               for path in (paths.default_model(".keras"), paths.default_model(), onnx)}
    tolerance = json.loads(metadata_path(paths.default_model()).read_text())["check"]["tolerance"]
    keras = results.pop(".keras")
    assert len(keras) == len(placed)
    for faces in results.values():
        assert [face["box"] for face in faces] == [face["box"] for face in keras]
        for mine, theirs in zip(faces, keras):
            assert (mine["gender"], mine["race"]) == (theirs["gender"], theirs["race"])
            assert abs(mine["age"] - theirs["age"]) <= 0.1
            for head in ("gender", "race", "age_group"):
                for name, p in theirs["probabilities"][head].items():
                    assert abs(mine["probabilities"][head][name] - p) <= tolerance + 1e-4  # both rounded to 4 places


@pytest.mark.parametrize("change, message", [
    (lambda m: m["input"].update(size=80), "it takes 150x150 crops, the metadata says 80x80"),
    (lambda m: m.update(age_bins={"start": 0, "stop": 50, "step": 1}), "would have 51, "),
    (lambda m: m.update(outputs=m["outputs"][::-1]), "its outputs have "),
])
def test_a_sidecar_that_does_not_describe_its_model_is_one_line_naming_both(tmp_path, change, message):
    """A .tflite.json of another input size, other age bins or outputs reordered gave XNNPack's "failed to
    reshape" or numpy's "matmul ... 51 is different from 101" at the first face (issue 28)."""
    model = tmp_path / "m.tflite"
    shutil.copy(paths.default_model(), model)
    metadata = json.loads(metadata_path(paths.default_model()).read_text())
    change(metadata)
    metadata_path(model).write_text(json.dumps(metadata))
    with pytest.raises(ModelError, match=rf"m.tflite.json does not describe .*m.tflite: .*{re.escape(message)}"):
        load_predictor(model)


@pytest.mark.parametrize("faces", [None, "face.jpg", 3])
def test_what_is_not_face_crops_is_an_input_error(faces):
    """load_predictor(...).predict(None) raised TypeError (issue 28): the library raises FaceKitError kinds only."""
    with pytest.raises(InputError, match="face crops must be"):
        load_predictor(paths.default_model()).predict(faces)
    assert load_predictor(paths.default_model()).predict([]) == []
