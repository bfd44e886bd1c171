"""face_train.py's commands (facekit/apps/train_command.py): fit, evaluate, predict and resume; the flag forms of
earlier releases parse as the command they stand for, after one deprecation line; errors in one line; evaluate of an
exported model without TensorFlow."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

import face_train
from facekit.apps import commands
from facekit.apps.train_command import light_command, parse_args, split_command

PROJECT = Path(__file__).resolve().parents[2]

# (the flag form of earlier releases, the command that replaces it)
FORMS = [
    (["--data", "D", "--backbone", "simple_cnn", "--weights", "none", "--epochs", "3", "--run", "r", "-q"],
     ["fit", "--data", "D", "--backbone", "simple_cnn", "--weights", "none", "--epochs", "3", "--run", "r", "-q"]),
    (["--evaluate", "a.keras", "b.tflite", "--data", "D", "--output", "o.json", "--tta", "flip"],
     ["evaluate", "a.keras", "b.tflite", "--data", "D", "--output", "o.json", "--tta", "flip"]),
    (["-v", "--data", "D", "--evaluate=m.onnx", "--limit", "5", "--ensemble-weights", "fit"],
     ["evaluate", "m.onnx", "-v", "--data", "D", "--limit", "5", "--ensemble-weights", "fit"]),
    (["--predict", "t.csv", "--model", "m.keras", "--output", "s.csv", "--sample", "x.csv", "--label-column", "age"],
     ["predict", "t.csv", "--model", "m.keras", "--output", "s.csv", "--sample", "x.csv", "--label-column", "age"]),
    (["--resume", "--run", "r", "--epochs", "9", "-q"], ["resume", "--run", "r", "--epochs", "9", "-q"]),
]


@pytest.mark.parametrize("old, new", FORMS, ids=[new[0] for _, new in FORMS])
def test_each_command_parses_as_its_flag_form_which_says_once_what_replaces_it(old, new, capsys):
    args = parse_args(new)
    assert capsys.readouterr().err == ""  # the command itself: no deprecation
    assert vars(parse_args(old)) == vars(args) and args.command == new[0]
    before, after = {"fit": ("--data DIR ... (no command)", "fit --data DIR ..."),
                     "evaluate": ("--evaluate MODEL ...", "evaluate MODEL ..."),
                     "predict": ("--predict TEST_CSV ...", "predict TEST_CSV ..."),
                     "resume": ("--resume --run NAME", "resume --run NAME")}[new[0]]
    assert capsys.readouterr().err.splitlines() == [
        f"deprecated: face_train.py {before} is now face_train.py {after} (the old form stops working in a later "
        "release)"]


def test_what_each_command_is_given():
    assert vars(parse_args(FORMS[1][1])) == {
        "command": "evaluate", "models": ["a.keras", "b.tflite"], "data": ["D"], "output": "o.json", "tta": "flip",
        "crop": None, "images": None, "label_column": None, "limit": None, "ensemble": "mean",
        "ensemble_weights": None, "overwrite": False, "quiet": False, "verbose": False}
    predict = parse_args(FORMS[3][1])
    assert (predict.test_csv, predict.model, predict.output, predict.sample) == ("t.csv", "m.keras", "s.csv", "x.csv")
    fit = parse_args(["fit", "--data", "A", "--data", "B", "--source-weight", "1", "--source-weight", "2"])
    assert fit.data == ["A", "B"] and fit.source_weight == [1.0, 2.0] and fit.epochs is None and not fit.protocol
    resume = parse_args(["resume", "--run", "r"])
    assert (resume.run, resume.epochs, resume.backbone) == ("r", None, fit.backbone)  # the run's settings untouched


def test_which_command_lines_need_the_train_extra():
    assert split_command(["-q", "evaluate", "m.tflite"]) == ("evaluate", ["-q", "m.tflite"], None)
    assert split_command(["--data", "D", "--predict", "t.csv", "-q"]) == ("predict", ["t.csv", "--data", "D", "-q"],
                                                                          "--predict")
    assert split_command(["--help"]) == (None, ["--help"], None)
    light = [["evaluate", "m.tflite", "--data", "D"], ["--evaluate", "m.onnx", "--data", "D"], ["--help"],
             ["predict", "t.csv"], ["-q", "--predict", "t.csv"]]
    training = [["fit", "--data", "D"], ["--data", "D"], ["resume", "--run", "r"], ["--resume", "--run", "r"], [],
                ["tests/core"], ["fit", "--help"]]
    assert [light_command(argv) for argv in light] == [True] * len(light)
    assert [light_command(argv) for argv in training] == [False] * len(training)


@pytest.mark.parametrize("argv, message", [
    ([], "the following arguments are required: COMMAND"),
    (["fitt", "--data", "D"], "argument COMMAND: invalid choice: 'fitt'"),
    (["evaluate", "m.keras"], "face_train.py evaluate: error: the following arguments are required: --data"),
    (["predict", "t.csv", "--model", "m.keras"], "the following arguments are required: --output"),
    (["fit", "--data", "D", "--lr", "-1"], "argument --lr: must be more than 0, not -1"),
    (["evaluate", "m.keras", "--data", "D", "--backbone", "simple_cnn"], "unrecognized arguments: --backbone"),
    (["--evaluate", "m.keras", "--predict", "t.csv", "--data", "D"], "--evaluate and --predict are two commands"),
    (["resume", "--run", "r", "--lr", "5", "--backbone", "levi_hassner", "--input-size", "227"],
     "--backbone, --input-size, --lr cannot change (only --epochs can)"),
    (["--resume", "--run", "r", "--lr", "5"], "--lr cannot change (only --epochs can)"),
])
def test_a_command_line_error_is_argparses_usage_and_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse_args(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith(("usage: ", "deprecated: ")) and "error: " in err[-1] and message in err[-1]
    assert sum("error" in line for line in err) == 1


def test_a_failure_while_running_is_one_line(tiny_utkface, tmp_path, capsys):
    for argv in (["evaluate", str(tmp_path / "absent.tflite"), "--data", str(tiny_utkface)],
                 ["predict", str(tmp_path / "absent.csv"), "--model", str(tmp_path / "m.onnx"), "--output",
                  str(tmp_path / "s.csv")]):
        with pytest.raises(SystemExit) as exit_info:
            face_train.main(argv)
        assert exit_info.value.code == 2
        [line] = capsys.readouterr().err.strip().splitlines()
        assert line.startswith("error: ") and "absent" in line


@pytest.mark.parametrize("command, shown, hidden", [
    ("fit", ["data:", "model:", "training:", "augmentation:", "distillation:", "--teacher-tta"], []),
    ("evaluate", ["MODEL [MODEL ...]", "data:", "ensembles and test-time augmentation:", "output:"], ["--backbone"]),
    ("predict", ["TEST_CSV", "input:", "output:", "--sample"], ["--tta"]),
    ("resume", ["--run", "--epochs"], ["--backbone", "--lr", "data:"]),
])
def test_each_commands_help_shows_its_options_in_groups(command, shown, hidden, capsys):
    with pytest.raises(SystemExit) as exit_info:
        face_train.main([command, "--help"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0 and out.startswith(f"usage: face_train.py {command}")
    assert all(text in out for text in shown) and not any(text in out for text in hidden)


def test_the_console_script_asks_for_the_train_extra_only_to_train(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "keras", None)  # a light install
    monkeypatch.setattr(sys, "argv", ["face-train", "fit", "--data", "D"])
    with pytest.raises(SystemExit) as exit_info:
        commands.face_train()
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: face-train needs keras, which is not installed: pip install .[train]"]
    monkeypatch.setattr(sys, "argv", ["face-train", "evaluate", "--help"])  # runs: its help, exit 0
    with pytest.raises(SystemExit) as exit_info:
        commands.face_train()
    assert exit_info.value.code == 0 and "MODEL [MODEL ...]" in capsys.readouterr().out


# face_train.py evaluate in an interpreter of a light install's modules: TensorFlow, Keras and Matplotlib cannot be
# imported (sys.modules[name] = None makes the import fail); what was loaded is printed last.
LIGHT = """import json, sys
for name in ("tensorflow", "keras", "matplotlib", "h5py", "tf2onnx", "tensorboard"):
    sys.modules[name] = None
import face_train
face_train.main(sys.argv[1:])
print(json.dumps(sorted({name.split(".")[0] for name, module in sys.modules.items() if module is not None})))
"""


@pytest.mark.slow  # an interpreter of its own, and the export
def test_evaluate_of_an_exported_model_runs_without_tensorflow(tiny_model_file, tiny_utkface, tmp_path):
    from facekit.export.exporter import export_model
    from facekit.infer.scoring import evaluate_saved
    exported, _ = export_model(tiny_model_file, "litert", output=tmp_path / "tiny.tflite", faces_folder=tiny_utkface)
    output = tmp_path / "light" / "metrics.json"
    result = subprocess.run([sys.executable, "-c", LIGHT, "evaluate", str(exported), "--data", str(tiny_utkface),
                             "--output", str(output)], cwd=PROJECT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = set(json.loads(result.stdout.splitlines()[-1]))
    assert "ai_edge_litert" in loaded and not loaded & {"tensorflow", "keras", "matplotlib"}
    assert "no plots: they need matplotlib" in result.stderr and not list(output.parent.glob("*.png"))
    light = json.loads(output.read_text())
    keras = evaluate_saved(tiny_model_file, str(tiny_utkface), tmp_path / "keras" / "metrics.json")
    assert light.keys() == keras.keys() and light["n_test"] == keras["n_test"] > 0
    for key, value in keras.items():
        if isinstance(value, float):
            assert abs(light[key] - value) < 1e-3, key  # the export is checked against Keras to 1e-4
