"""The real install, as a new user gets it: the wheel is built from a copy of the checkout, installed with its
server extra into a fresh virtual environment outside it (pip reads the package index, through its cache), and
from another folder, with no ../shared and no project folders in sight, `face-demo` annotates a real photo with the
default model that the wheel carries (no --model), `facekit.analyze` finds the same faces, `face-video-demo` writes a
clip, and `face-server` answers /health. Runs, logs and caches would go to ~/.facekit: HOME is a temporary folder.

Skipped only when pip cannot install the dependencies (no network and nothing in pip's cache), and says so."""
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from facekit.core import paths
from tests import background
from tests.face_scenes import README_PHOTO, README_PHOTO_BOXES, README_PHOTO_GENDERS

PROJECT = Path(__file__).resolve().parents[1]
NOT_COPIED = {".git", ".venv", "build", "dist", "logs", "train_data", "vggface_weights", "annotated", "__pycache__",
              ".pytest_cache", ".ruff_cache", ".import_linter_cache"}


pytestmark = pytest.mark.slow  # builds and installs the wheel, starts servers


def source_copy(target):
    """The checkout as a fresh clone has it, less the big .keras: what a wheel is built from."""
    def ignore(folder, names):
        skipped = {name for name in names if name in NOT_COPIED or name.endswith((".egg-info", ".keras"))}
        if Path(folder) == PROJECT / "face_weights":  # runs of one's own stay behind; the default model goes
            skipped |= {name for name in names if name != "default"}
        return skipped
    shutil.copytree(PROJECT, target, ignore=ignore, symlinks=True)
    return target


def run(command, timeout=600, **kwargs):
    return subprocess.run([str(part) for part in command], capture_output=True, text=True, timeout=timeout,
                          **kwargs)


@background.job("install", tests=["test_install.py::"])
def _install(root):
    """Builds the wheel and installs it with its server extra into a fresh venv, as the session starts: each step's
    CompletedProcess (as far as they went), the wheel, the venv and the seconds taken, for ``installed`` to check."""
    # Nothing of this process's environment leaks in: a PYTHONPATH would let pip think packages are installed
    clean = background.environment(without=("FACEKIT_", "PYTHON", "VIRTUAL_ENV"))
    start = time.perf_counter()
    source = source_copy(root / "source")
    done = {"root": root, "clean": clean, "venv": root / "venv"}
    done["built"] = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", source,
                         "-w", root / "dist"], env=clean)
    if done["built"].returncode != 0:
        return done
    done["wheel"], = (root / "dist").glob("facekit_agr-*.whl")
    # The venv without a pip of its own (seeding one takes seconds): this interpreter's pip installs into it
    # (--python), and leaves the bytecode to the first imports (--no-compile: pip compiles every module it installs)
    done["made"] = run([sys.executable, "-m", "venv", "--without-pip", done["venv"]], env=clean)
    if done["made"].returncode != 0:
        return done
    done["pip"] = run([sys.executable, "-m", "pip", "--python", done["venv"] / "bin" / "python", "install", "-q",
                       "--disable-pip-version-check", "--no-compile", f"{done['wheel']}[server]"], timeout=900,
                      env=clean)
    done["took"] = time.perf_counter() - start
    return done


@pytest.fixture(scope="module")
def installed():
    """(the fresh venv's bin/, the wheel, a user's environment, a folder outside the checkout, seconds taken)."""
    done = background.result("install")  # built and installed as the session starts
    root, clean, venv = done["root"], done["clean"], done["venv"]
    assert done["built"].returncode == 0, done["built"].stderr
    wheel = done["wheel"]
    assert done["made"].returncode == 0, done["made"].stderr
    pip = done["pip"]
    if pip.returncode != 0 and ("NewConnectionError" in pip.stderr or "No matching distribution" in pip.stderr):
        pytest.skip(f"pip could not install the wheel's dependencies (offline?): {pip.stderr.strip()[-300:]}")
    assert pip.returncode == 0, pip.stderr
    took = done["took"]
    user = root / "user"  # another folder, HOME too: nothing of the checkout reachable
    (user / "home").mkdir(parents=True)
    environment = dict(clean)
    environment.update(HOME=str(user / "home"), PATH=f"{venv / 'bin'}{os.pathsep}{environment.get('PATH', '')}",
                       FACEKIT_SHARED=str(root / "no-shared"))
    print(f"built, installed in a fresh venv in {took:.0f} s; wheel {wheel.stat().st_size / 1e6:.1f} MB")
    return venv / "bin", wheel, environment, user, took


def test_the_wheel_carries_the_default_model_but_not_its_keras(installed):
    _, wheel, _, _, _ = installed
    names = zipfile.ZipFile(wheel).namelist()
    model = f"facekit/default_model/{paths.DEFAULT_MODEL_NAME}"
    assert {f"{model}.tflite", f"{model}.tflite.json", "facekit/default_model/metrics.json",
            "facekit/vision/models/face_detection_yunet_2023mar.onnx"} <= set(names)
    assert not [name for name in names if name.endswith((".keras", ".h5", ".dat")) or name.startswith("tests/")]
    # no top-level modules (face.py, face_demo.py, ... are the checkout's fronts; "face" would clash in site-packages)
    assert not [name for name in names if "/" not in name and name.endswith(".py")]


def test_face_demo_annotates_a_real_photo_from_another_folder_without_model(installed):
    bin_dir, _, environment, user, _ = installed
    shutil.copy(README_PHOTO, user / "photo.jpg")
    result = run([bin_dir / "face-demo", "photo.jpg", "--json", "faces.json"], cwd=user, env=environment)
    assert result.returncode == 0, result.stderr
    assert f"using the default model: {bin_dir.parent}" in result.stdout  # the copy in the installed package
    assert f"default_model/{paths.DEFAULT_MODEL_NAME}.tflite" in result.stdout
    assert (user / "annotated" / "photo_annotated.jpg").is_file()
    faces = sorted(json.loads((user / "faces.json").read_text())[0]["faces"], key=lambda face: face["box"]["x"])
    assert [tuple(face["box"].values()) for face in faces] == README_PHOTO_BOXES
    assert [face["gender"] for face in faces] == README_PHOTO_GENDERS


def test_facekit_analyze_and_where_runs_would_go(installed):
    bin_dir, _, environment, user, _ = installed
    shutil.copy(README_PHOTO, user / "photo.jpg")
    script = ("import json, sys, facekit\nfrom facekit.core import paths\n"
              "faces = facekit.analyze('photo.jpg')\n"
              "print(json.dumps({'genders': [f.gender for f in sorted(faces, key=lambda f: f.box[0])],"
              " 'home': str(paths.home()), 'runs': str(paths.face_weights_dir()),"
              " 'tensorflow': 'tensorflow' in sys.modules}))")
    result = run([bin_dir / "python", "-c", script], cwd=user, env=environment)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout.splitlines()[-1])
    assert answer["genders"] == README_PHOTO_GENDERS and not answer["tensorflow"]
    assert answer["home"] == str(user / "home" / ".facekit") and answer["runs"].startswith(answer["home"])
    moved = run([bin_dir / "python", "-c", "from facekit.core import paths; print(paths.logs_dir())"], cwd=user,
                env={**environment, "FACEKIT_HOME": str(user / "elsewhere")})
    assert moved.stdout.strip() == str(user / "elsewhere" / "logs")


def test_face_video_demo_writes_a_clip_without_model(installed):
    bin_dir, _, environment, user, _ = installed
    frame = cv2.resize(cv2.imread(str(README_PHOTO)), (640, 214))
    writer = cv2.VideoWriter(str(user / "clip.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10, (640, 214))
    for shift in range(6):
        writer.write(np.roll(frame, shift * 4, axis=1))
    writer.release()
    result = run([bin_dir / "face-video-demo", "--source", "clip.mp4", "--output", "out.mp4", "--no-display"],
                 cwd=user, env=environment)
    assert result.returncode == 0, result.stderr
    assert "6 frames (6 analysed)" in result.stdout and (user / "out.mp4").stat().st_size > 0


def test_face_server_answers_health_from_another_folder(installed):
    bin_dir, _, environment, user, _ = installed
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([bin_dir / "face-server", "--port", str(port)], cwd=user, env=environment,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline, health = time.monotonic() + 60, None
        while health is None and time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as answer:
                    health = (answer.status, json.loads(answer.read()))
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/version", timeout=2) as answer:
                    version = json.loads(answer.read())
            except OSError:
                time.sleep(0.2)
        assert health is not None, server.stdout.read() if server.poll() is not None else "no answer in 60 s"
        assert health[0] == 200
        assert version["model"] == f"default/{paths.DEFAULT_MODEL_NAME}.tflite" and version["metrics"]["age_mae"] > 0
    finally:
        server.terminate()
        server.wait(timeout=30)
