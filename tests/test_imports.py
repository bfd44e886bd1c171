"""The package's import graph: no cycles, not even ones dodged by importing inside a function; every module
imports alone."""
import ast
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
MODULES = sorted(".".join(path.relative_to(PROJECT).with_suffix("").parts).removesuffix(".__init__")
                 for path in (PROJECT / "facekit").rglob("*.py"))
# Loaded once before the modules are imported one by one (importing TensorFlow takes seconds).
THIRD_PARTY = "cv2,h5py,keras,matplotlib,numpy,PIL.Image,tensorflow,tqdm"


def facekit_imports(module):
    """The facekit modules that ``module`` imports anywhere in its source (top level or inside functions)."""
    path = PROJECT / module.replace(".", "/")
    tree = ast.parse((path / "__init__.py" if path.is_dir() else path.with_suffix(".py")).read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("facekit.")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("facekit"):
            if node.module == "facekit":  # from facekit import paths
                found |= {f"facekit.{alias.name}" for alias in node.names}
            else:
                found.add(node.module)
    return found & set(MODULES)


def test_import_graph_has_no_cycle():
    graph = {module: facekit_imports(module) for module in MODULES}
    done, on_path = set(), []

    def visit(module):
        if module in on_path:
            raise AssertionError("import cycle: " + " -> ".join(on_path[on_path.index(module):] + [module]))
        if module in done:
            return
        on_path.append(module)
        for imported in sorted(graph[module]):
            visit(imported)
        on_path.pop()
        done.add(module)

    for module in MODULES:
        visit(module)


def import_alone(modules, preload="", cwd=PROJECT):
    return subprocess.run([sys.executable, str(PROJECT / "tests" / "import_alone.py"), "--preload", preload, *modules],
                          cwd=cwd, capture_output=True, text=True, timeout=300)


def test_every_module_imports_alone():
    result = import_alone(MODULES, preload=THIRD_PARTY)
    assert result.returncode == 0, [line for line in result.stderr.splitlines() if line.startswith("facekit.")]


def test_a_cycle_fails_to_import_alone(tmp_path):
    """The check above can fail: two modules importing names from each other at import time."""
    (tmp_path / "cyclic").mkdir()
    (tmp_path / "cyclic" / "__init__.py").write_text("")
    (tmp_path / "cyclic" / "a.py").write_text("from cyclic.b import B\nA = 1\n")
    (tmp_path / "cyclic" / "b.py").write_text("from cyclic.a import A\nB = 2\n")
    result = import_alone(["cyclic.a", "cyclic.b"], cwd=tmp_path)
    assert result.returncode == 1 and "partially initialized module" in result.stderr
