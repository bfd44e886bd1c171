"""Every module imports alone, in a fresh interpreter. The import graph itself (layers, no cycle, not even one dodged by
importing inside a function; no TensorFlow in the light install's layers) is checked by import-linter: `lint-imports`
runs its contracts, in pyproject.toml, in .ci/run."""
import subprocess
import sys
from pathlib import Path

import pytest

from tests import background

PROJECT = Path(__file__).resolve().parents[1]
MODULES = sorted(".".join(path.relative_to(PROJECT).with_suffix("").parts).removesuffix(".__init__")
                 for path in (PROJECT / "facekit").rglob("*.py"))
# Loaded once before the modules are imported one by one (importing TensorFlow takes seconds).
THIRD_PARTY = "cv2,h5py,keras,matplotlib,numpy,PIL.Image,tensorflow,tqdm"


def import_alone(modules, preload="", cwd=PROJECT):
    return subprocess.run([sys.executable, str(PROJECT / "tests" / "import_alone.py"), "--preload", preload, *modules],
                          cwd=cwd, capture_output=True, text=True, timeout=300, env=background.environment())


@background.job("imports", tests=["test_imports.py::test_every_module_imports_alone"])
def _every_module_imported(folder):
    return import_alone(MODULES, preload=THIRD_PARTY)


@pytest.mark.slow
def test_every_module_imports_alone():
    result = background.result("imports")  # import_alone(MODULES, ...), run as the session starts
    assert result.returncode == 0, [line for line in result.stderr.splitlines() if line.startswith("facekit.")]


def test_a_cycle_fails_to_import_alone(tmp_path):
    """The check above can fail: two modules importing names from each other at import time."""
    (tmp_path / "cyclic").mkdir()
    (tmp_path / "cyclic" / "__init__.py").write_text("")
    (tmp_path / "cyclic" / "a.py").write_text("from cyclic.b import B\nA = 1\n")
    (tmp_path / "cyclic" / "b.py").write_text("from cyclic.a import A\nB = 2\n")
    result = import_alone(["cyclic.a", "cyclic.b"], cwd=tmp_path)
    assert result.returncode == 1 and "partially initialized module" in result.stderr
