"""Builds the wheel with the default model inside: setuptools' build_py, then the default model's exported files
(facekit/core/paths.py: DEFAULT_MODEL_NAME, PACKAGED_SUFFIXES, in DEFAULT_MODEL_FOLDER) and its metrics.json are
copied into the build as facekit/default_model/, so that `pip install .` annotates photos from any folder. The
.keras stays out. Everything else is in pyproject.toml."""
import runpy
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


class build_py_with_default_model(build_py):
    def run(self):
        super().run()
        if self.editable_mode:  # an editable install reads the checkout's folder itself
            return
        paths = runpy.run_path(str(HERE / "facekit" / "core" / "paths.py"))
        source = HERE / paths["DEFAULT_MODEL_FOLDER"]
        files = [f"{paths['DEFAULT_MODEL_NAME']}{suffix}" for suffix in paths["PACKAGED_SUFFIXES"]]
        missing = [name for name in files if not (source / name).is_file()]
        if missing:
            raise SystemExit(f"the default model's {', '.join(missing)} missing from {source}: export it first "
                             "(README, Export)")
        target = Path(self.build_lib, "facekit", "default_model")
        target.mkdir(parents=True, exist_ok=True)
        for name in [*files, "metrics.json"]:
            if (source / name).is_file():
                shutil.copyfile(source / name, target / name)


setup(cmdclass={"build_py": build_py_with_default_model})
