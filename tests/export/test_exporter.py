"""Export (facekit/export/exporter.py, face.py --export): every backbone to LiteRT and ONNX, checked against Keras on
real faces, with its metadata read back by the loader; refusals: an existing file, a difference over the tolerance."""
import functools
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import face
from facekit.backbones.model import build_model
from facekit.backbones.registry import BACKBONES
from facekit.core.errors import FaceKitError, ModelError
from facekit.export import exporter
from facekit.export.exporter import default_check_faces, export_model, face_files, read_faces
from facekit.infer.model_metadata import metadata_path
from facekit.infer.predictors import load_predictor
from tests import background
from tests.shared_data import UTKFACE, needs_utkface

pytestmark = needs_utkface
PROJECT = Path(__file__).resolve().parents[2]

# ResNet50's ONNX conversion alone takes about 50 s on 2 cores; its LiteRT export is tested here, and its ONNX export
# runs in benchmarks/bench_runtimes.py (at 200 px).
CASES = [(name, fmt) for name in BACKBONES for fmt in ("litert", "onnx")
         if (name, fmt) != ("vggface2_resnet50", "onnx")]


@pytest.fixture(scope="module")
def small_models(tmp_path_factory):
    """An untrained simple_cnn and levi_hassner at their smallest input sizes, saved as .keras: the refusals'
    models (every backbone's export is a background job, below)."""
    folder = tmp_path_factory.mktemp("models")
    paths = {}
    for name in ("simple_cnn", "levi_hassner"):
        size = BACKBONES[name].min_input_size
        paths[name] = folder / f"{name}.keras"
        build_model(name, input_shape=(size, size, 3)).save(paths[name])
    return paths


# A backbone's untrained model at its smallest input size, saved as .keras, and export_model of it to each format
# of CASES, in a process of its own: the last line printed is {"model": path, "exports": {fmt: [path, worst]}}.
EXPORT = """import json, sys
from facekit.backbones.model import build_model
from facekit.backbones.registry import BACKBONES
from facekit.export.exporter import export_model
name, folder, formats = sys.argv[1], sys.argv[2], sys.argv[3:]
size = BACKBONES[name].min_input_size
model = f"{folder}/{name}.keras"
build_model(name, input_shape=(size, size, 3)).save(model)
exports = {}
for fmt in formats:
    output, worst = export_model(model, fmt, output=f"{folder}/{name}" + (".tflite" if fmt == "litert" else ".onnx"))
    exports[fmt] = [str(output), worst]
print(json.dumps({"model": model, "exports": exports}))
"""


def _export_in_a_process(backbone, folder):
    """EXPORT run for ``backbone``: (the .keras, {fmt: (the export, its largest difference)}), or the failed
    process; None without UTKFace's faces to check against (its tests are skipped)."""
    if not UTKFACE.is_dir():  # not default_check_faces(): a test beside this job may point paths elsewhere
        return None
    formats = [fmt for name, fmt in CASES if name == backbone]
    done = subprocess.run([sys.executable, "-c", EXPORT, backbone, str(folder), *formats], cwd=PROJECT,
                          capture_output=True, text=True, timeout=600,
                          env=background.environment(TF_CPP_MIN_LOG_LEVEL="3", FACEKIT_SHARED=str(UTKFACE.parents[2])))
    if done.returncode != 0:
        return done
    printed = json.loads(done.stdout.strip().splitlines()[-1])
    return Path(printed["model"]), {fmt: (Path(output), worst) for fmt, (output, worst) in printed["exports"].items()}


for _backbone in BACKBONES:  # a job each, as the session starts (tests/background.py); simple_cnn's LiteRT export is
    background.job(f"export {_backbone}",  # also the earlier export the interrupted-export test starts from
                   tests=[f"test_exporter.py::test_every_backbone_exports_and_predicts_as_keras[{_backbone}-"]
                   + (["test_exporter.py::test_an_export_interrupted"] if _backbone == "simple_cnn" else [])
                   )(functools.partial(_export_in_a_process, _backbone))


def exported(backbone):
    """(the backbone's .keras, {fmt: (its export, the largest difference export_model returned)}) of its job."""
    done = background.result(f"export {backbone}")
    assert not isinstance(done, subprocess.CompletedProcess), done.stderr[-3000:]
    return done


@pytest.mark.slow
@pytest.mark.parametrize("backbone, fmt", CASES)
def test_every_backbone_exports_and_predicts_as_keras(backbone, fmt):
    model_file, exports = exported(backbone)  # exported in a process of its own as the session starts
    output, worst = exports[fmt]
    assert output.is_file() and worst < 1e-4
    metadata = json.loads(metadata_path(output).read_text())
    size = BACKBONES[backbone].min_input_size
    assert (metadata["backbone"], metadata["input"]["size"], metadata["format"]) == (backbone, size, fmt)
    assert metadata["normalization"] == BACKBONES[backbone].normalization
    assert metadata["check"]["max_abs_difference"] == worst and metadata["check"]["faces"] == 32
    faces = read_faces(face_files(default_check_faces())[:5], size)
    runtime, keras = load_predictor(output), load_predictor(model_file)
    assert runtime.input_size == size
    got, want = runtime.probabilities(faces), keras.probabilities(faces)
    for head in ("age", "gender", "race"):
        np.testing.assert_allclose(got[head], want[head], atol=1e-4)
    assert [r.gender for r in runtime.predict(faces)] == [r.gender for r in keras.predict(faces)]


@pytest.mark.slow
def test_existing_file_is_refused_and_kept(small_models, tmp_path):
    output = tmp_path / "taken.tflite"
    output.write_bytes(b"keep me")
    with pytest.raises(FaceKitError, match="already exists; pass --overwrite"):
        export_model(small_models["simple_cnn"], "litert", output=output)
    assert output.read_bytes() == b"keep me" and not metadata_path(output).exists()
    export_model(small_models["simple_cnn"], "litert", output=output, overwrite=True)
    assert output.stat().st_size > 10_000 and metadata_path(output).is_file()


@pytest.mark.slow
def test_an_export_interrupted_before_its_metadata_leaves_no_mismatched_pair(small_models, tmp_path, monkeypatch):
    """The model is moved into place first, after the old metadata is removed: stopped in between, the new model
    has no metadata (a clear refusal), never the old model's."""
    output = tmp_path / "m.tflite"
    earlier, _ = exported("simple_cnn")[1]["litert"]  # an earlier export in place: simple_cnn's, with its metadata
    shutil.copy(earlier, output)
    shutil.copy(metadata_path(earlier), metadata_path(output))
    real_replace = exporter.os.replace

    def replace(source, target):
        if str(target).endswith(".json"):
            raise KeyboardInterrupt
        real_replace(source, target)

    monkeypatch.setattr(exporter.os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        export_model(small_models["levi_hassner"], "litert", output=output, overwrite=True)
    assert not metadata_path(output).exists()
    with pytest.raises(FaceKitError, match="has no metadata file m.tflite.json beside it"):
        load_predictor(output)
    monkeypatch.undo()
    export_model(small_models["levi_hassner"], "litert", output=output, overwrite=True)
    metadata = json.loads(metadata_path(output).read_text())
    assert metadata["backbone"] == "levi_hassner" and "crop_geometry" not in metadata
    assert sorted(metadata["outputs"]) == ["age", "gender", "race"] and metadata["check"]["faces"] == 32


def test_no_real_faces_to_check_against_is_a_one_line_error(small_models, tmp_path):
    with pytest.raises(FaceKitError, match="no folder of real faces to check the export against .*--check-faces"):
        export_model(small_models["simple_cnn"], "litert", output=tmp_path / "m.tflite", faces_folder=tmp_path / "x")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_difference_over_the_tolerance_writes_nothing(small_models, tmp_path):
    with pytest.raises(FaceKitError, match=r"differs from Keras by up to .* on 32 real faces \(tolerance 1e-12\)"):
        export_model(small_models["levi_hassner"], "onnx", output=tmp_path / "m.onnx", tolerance=1e-12)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_command_line_export_reports_the_difference(small_models, tmp_path, capsys):
    output = tmp_path / "cli.onnx"
    face.main(["--export", str(small_models["simple_cnn"]), "--format", "onnx", "--output", str(output)])
    out = capsys.readouterr().out
    assert "largest difference" in out and f"wrote {output}" in out
    with pytest.raises(SystemExit) as exit_info:
        face.main(["--export", str(small_models["simple_cnn"]), "--format", "litert", "--output", str(output)])
    assert exit_info.value.code == 2 and "written as .tflite, not cli.onnx" in capsys.readouterr().err


def test_a_nan_tolerance_is_refused(small_models, tmp_path, capsys):
    """NaN compared false with every difference: the check against Keras was off and the file written."""
    with pytest.raises(SystemExit) as exit_info:
        face.main(["--export", str(small_models["simple_cnn"]), "--output", str(tmp_path / "m.tflite"),
                   "--tolerance", "nan"])
    assert exit_info.value.code == 2 and "must be 0 or more, not nan" in capsys.readouterr().err
    with pytest.raises(FaceKitError, match="tolerance must be a finite number"):
        export_model(small_models["simple_cnn"], "litert", output=tmp_path / "m.tflite", tolerance=float("nan"))
    assert list(tmp_path.iterdir()) == []


def test_a_folder_under_the_output_name_is_refused_before_the_slow_work(small_models, tmp_path, monkeypatch):
    (tmp_path / "x.tflite").mkdir()
    monkeypatch.setattr(exporter, "load_model", lambda path: pytest.fail("loaded the model"))
    with pytest.raises(FaceKitError, match="x.tflite is a folder; choose another --output"):
        export_model(small_models["simple_cnn"], "litert", output=tmp_path / "x.tflite", overwrite=True)


@pytest.mark.slow
def test_an_op_the_converter_cannot_convert_is_one_line(small_models, tmp_path, monkeypatch):
    def refuses(model, fmt, path, size):
        raise RuntimeError("loc(fused): some context\n" * 100 + "error: 'tf.Unconvertible' op is neither a custom op "
                           "nor a flex op\n" + "more\n" * 17)

    monkeypatch.setattr(exporter, "_convert", refuses)
    with pytest.raises(FaceKitError) as error:
        export_model(small_models["simple_cnn"], "litert", output=tmp_path / "m.tflite")
    assert str(error.value).count("\n") == 0 and "'tf.Unconvertible' op is neither" in str(error.value)
    assert list(tmp_path.iterdir()) == []


def test_a_model_whose_outputs_are_a_list_is_refused_in_one_line(small_models, tmp_path):
    import keras
    model = face.load_model(small_models["simple_cnn"])
    listed = keras.Model(model.inputs, [model.output[head] for head in ("age", "gender", "race")])
    listed.save(tmp_path / "listed.keras")
    with pytest.raises(ModelError, match="gives its outputs as a list, not by head name"):
        export_model(tmp_path / "listed.keras", "litert", output=tmp_path / "m.tflite")
