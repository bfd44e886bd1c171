"""int8 quantisation of ONNX exports (facekit/export/quantize.py, face.py --export --quantize int8): the file runs
through the loader as any .onnx, is smaller, and its error against Keras on held-out real faces is measured and stored;
refusals: LiteRT, an existing file, too few faces, an error over the limits."""
import contextlib
import io
import json
import shutil

import pytest

import face
from facekit.core.errors import FaceKitError
from facekit.export import quantize
from facekit.export.exporter import default_check_faces, export_model, face_files, read_faces
from facekit.export.quantize import CALIBRATION_FACES, MEASURED_FACES, quantization_error
from facekit.infer.model_metadata import metadata_path
from facekit.infer.predictors import load_predictor
from tests.shared_data import needs_utkface

pytestmark = needs_utkface


@pytest.fixture(scope="module")
def exports(tiny_model_file, tmp_path_factory):
    """The tiny model (untrained simple_cnn, 64 px) exported as float .onnx (export_model) and as int8 .onnx by the
    command line (face.py --export ... --quantize int8 --accept-error, which calls export_model so): {"float", "int8"}
    -> path, and "printed": what the command line printed, for its own test. The int8 error accepted whatever it is:
    an untrained model's near-even probabilities say nothing of the limits. One int8 export for both tests: each
    calibrates and measures on 256 real faces (seconds)."""
    folder = tmp_path_factory.mktemp("quantized")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):  # the scripts' messages go to sys.stdout as it is when each is shown
        face.main(["--export", str(tiny_model_file), "--format", "onnx", "--quantize", "int8", "--output",
                   str(folder / "int8.onnx"), "--accept-error"])
    return {"float": export_model(tiny_model_file, "onnx", output=folder / "float.onnx")[0],
            "int8": folder / "int8.onnx", "printed": printed.getvalue()}


@pytest.mark.slow
def test_int8_export_runs_as_any_onnx_within_its_recorded_error(exports, tiny_model_file):
    metadata = json.loads(metadata_path(exports["int8"]).read_text())
    recorded = metadata["quantization"]
    assert (recorded["type"], recorded["faces"], recorded["calibration_faces"]) == ("int8", MEASURED_FACES,
                                                                                    CALIBRATION_FACES)
    assert metadata["check"]["max_abs_difference"] < 1e-4 and recorded["limits"] == quantize.LIMITS
    assert "quantization" not in load_predictor(exports["float"]).metadata  # as every file written before it
    assert exports["int8"].stat().st_size < exports["float"].stat().st_size / 2

    int8, keras = load_predictor(exports["int8"]), load_predictor(tiny_model_file)
    faces = read_faces(face_files(default_check_faces())[:MEASURED_FACES], int8.input_size)
    measured = quantization_error(keras.probabilities(faces), int8.probabilities(faces), int8.age_bins)
    for name, value in measured.items():
        assert value == pytest.approx(recorded[name], abs=1e-3), name
    assert len(int8.predict(faces[:3])) == 3


@pytest.mark.slow
def test_error_over_the_limits_is_refused_unless_accepted(tiny_model_file, tmp_path, monkeypatch):
    monkeypatch.setitem(quantize.LIMITS, "gender_agreement", 1.01)  # more than any quantisation can meet
    output = tmp_path / "m.onnx"
    with pytest.raises(FaceKitError, match=r"int8 against Keras on 256 held-out real faces: .* over the limits .*"
                                           r"nothing written \(--accept-error writes it\)"):
        export_model(tiny_model_file, "onnx", output=output, quantize="int8")
    assert list(tmp_path.iterdir()) == []
    export_model(tiny_model_file, "onnx", output=output, quantize="int8", accept_error=True)
    assert json.loads(metadata_path(output).read_text())["quantization"]["over_limits"]


def test_litert_int8_is_a_one_line_error(tiny_model_file, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        face.main(["--export", str(tiny_model_file), "--format", "litert", "--quantize", "int8"])
    assert exit_info.value.code == 2
    assert "error: --quantize int8 is offered for --format onnx only" in capsys.readouterr().err


def test_too_few_faces_to_calibrate_is_a_one_line_error(tiny_model_file, tmp_path):
    folder = tmp_path / "faces"
    folder.mkdir()
    for image in sorted(default_check_faces().iterdir())[:40]:
        shutil.copy(image, folder)
    with pytest.raises(FaceKitError, match=f"int8 quantisation needs {MEASURED_FACES + CALIBRATION_FACES} real faces "
                                           f"in {folder} .*, not 40"):
        export_model(tiny_model_file, "onnx", output=tmp_path / "m.onnx", faces_folder=folder, quantize="int8")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["faces"]


@pytest.mark.slow
def test_command_line_reports_the_error_and_keeps_an_existing_file(exports, tiny_model_file, capsys):
    output, out = exports["int8"], exports["printed"]  # written by the command line, --accept-error
    assert "its float graph checked against Keras" in out and f"wrote {output}" in out
    assert "int8 against Keras on 256 held-out real faces: age differs by" in out
    before = output.read_bytes()
    with pytest.raises(SystemExit) as exit_info:
        face.main(["--export", str(tiny_model_file), "--format", "onnx", "--quantize", "int8", "--output", str(output)])
    assert exit_info.value.code == 2 and "already exists; pass --overwrite" in capsys.readouterr().err
    assert output.read_bytes() == before
