"""The installs: `pip install .` is light (no TensorFlow), `.[train]` adds it, requirements.txt installs everything,
and the package carries YuNet's model."""
import tomllib
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
HEAVY = ("tensorflow", "keras", "mtcnn", "tf2onnx", "tensorboard")


def requirement_names(path):
    lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
    return [line.split("==")[0].split("[")[0].lower() for line in lines if line and not line.startswith("-r")]


def test_light_install_has_no_tensorflow_and_train_has_it():
    project = tomllib.loads((PROJECT / "pyproject.toml").read_text())
    dynamic = project["tool"]["setuptools"]["dynamic"]
    light = [name for file in dynamic["dependencies"]["file"] for name in requirement_names(PROJECT / file)]
    train = [name for file in dynamic["optional-dependencies"]["train"]["file"]
             for name in requirement_names(PROJECT / file)]
    assert "ai-edge-litert" in light and "opencv-python-headless" in light
    assert not [name for name in light if name.startswith(HEAVY)]
    assert {"tensorflow-cpu", "keras", "tf2onnx", "onnx", "onnxruntime"} <= set(train)


def test_package_data_covers_every_data_file_in_the_package():
    """YuNet's model (facekit/vision/models/) and the page (facekit/apps/static/) ship: every file in facekit/ that
    is not Python matches a package-data pattern of its subpackage, and subpackages are found, not listed."""
    setuptools = tomllib.loads((PROJECT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert setuptools["packages"]["find"]["include"] == ["facekit", "facekit.*"]
    package_data = setuptools["package-data"]
    data_files = [p for p in (PROJECT / "facekit").rglob("*")
                  if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts]
    assert any(p.name.startswith("face_detection_yunet") for p in data_files)
    assert "py.typed" in package_data["facekit"]  # PEP 561: the type hints ship (a file of facekit/ itself)
    for path in data_files:
        parts = path.relative_to(PROJECT).parts
        package = parts[:2] if len(parts) > 2 else parts[:1]
        patterns = package_data.get(".".join(package), [])
        assert any(path.relative_to(PROJECT.joinpath(*package)).match(pattern) for pattern in patterns), path


def test_requirements_txt_installs_every_pinned_file():
    included = [line.split()[1] for line in (PROJECT / "requirements.txt").read_text().splitlines()
                if line.startswith("-r ")]
    assert sorted(included) == sorted(str(p.relative_to(PROJECT)) for p in (PROJECT / "requirements").glob("*.txt"))
