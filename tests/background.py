"""Work done in processes of its own for slow tests, started as soon as the tests are collected.

pytest runs one test at a time in its own process, and that process trains, traces and converts in one thread most
of the time: on a 2-core machine one core idles. The jobs declared here (a wheel built and installed, clusters of
training workers, every module imported in fresh interpreters, training processes interrupted and killed) run only
in processes of their own, so a thread of this process starts them when the session starts and runs them one after
another on that idle core, while the tests before theirs run. Their tests then find the work done, or wait for the
rest of it; a test whose job has not started yet runs it at once itself. The tests still assert everything on what
the job's processes did (exit statuses, output, files), in the test.

A job is a function of one argument, a fresh folder of its own, that returns what its tests check; declared with
``@job(name, tests)`` in the test module, at import. It starts only when one of ``tests`` (parts of node ids) is
among the selected tests, so ``-m "not slow"`` or ``-k`` starts no work nobody checks. Processes a job starts go
through ``popen`` so that the session's end kills any still running (an interrupted session), and what a job leaves
to undo at the end (a mount) goes to ``at_end``. A job runs while other tests run, and those tests change this
process's state (monkeypatch sets environment variables, points paths.PROJECT_ROOT at a temporary folder): a job
reads none of it, but ``environment()``, the environment as it was when the tests were collected, and paths
computed at import (tests/shared_data.py).
"""
import os
import shutil
import subprocess
import tempfile
import threading
import traceback
from pathlib import Path

_JOBS = {}  # name -> _Job, in the order they are declared (the order of the test modules)
_PROCESSES = []
_AT_END = []
_FOLDERS = []
# At import, with conftest: before any test's monkeypatch. Less FACEKIT_HOME, as conftest's no_facekit_home leaves
# it for every test: runs and logs go where each job points them.
_ENVIRONMENT = {key: value for key, value in os.environ.items() if key != "FACEKIT_HOME"}


class _Job:
    def __init__(self, name, function, tests):
        self.name, self.function, self.tests = name, function, tuple(tests)
        self._claim = threading.Lock()
        self._started = False
        self._done = threading.Event()
        self.value = self.error = self.error_text = None

    def run(self):
        """Runs the job unless it has started (here or in the background); True when this call ran it."""
        with self._claim:
            if self._started:
                return False
            self._started = True
        try:
            folder = Path(tempfile.mkdtemp(prefix=f"facekit-{self.name.replace(' ', '-')}-"))
            _FOLDERS.append(folder)
            self.value = self.function(folder)
        except BaseException as error:  # kept for its tests, which raise it
            self.error, self.error_text = error, traceback.format_exc()
        finally:
            self._done.set()
        return True

    def result(self):
        self.run()
        self._done.wait()
        if self.error is not None:
            raise RuntimeError(f"background job '{self.name}' failed:\n{self.error_text}") from self.error
        return self.value


def job(name, tests):
    """Declares ``function(folder) -> value`` as the job ``name``, needed by the tests whose node ids hold one of
    ``tests`` (for example "test_install.py::" for every test of a file, or "test_x.py::test_y")."""
    def declare(function):
        assert name not in _JOBS, f"two background jobs named {name}"
        _JOBS[name] = _Job(name, function, tests)
        return function
    return declare


def result(name):
    """What the job ``name`` returned, waiting for it (or running it here if it has not started); what it raised
    is raised again."""
    return _JOBS[name].result()


def environment(without: tuple[str, ...] = (), **changes: str) -> dict[str, str]:
    """The environment as the session found it (less FACEKIT_HOME, as a test sees it), less the variables ``without``
    names (or starts with), plus ``changes``: for a job's processes, whatever the tests running beside it set."""
    kept = {key: value for key, value in _ENVIRONMENT.items() if not key.startswith(without)}  # (): none left out
    return {**kept, **changes}


def popen(*args, **kwargs):
    """subprocess.Popen, the process killed at the session's end if it still runs then."""
    process = subprocess.Popen(*args, **kwargs)
    _PROCESSES.append(process)
    return process


def at_end(function):
    """``function()`` called at the session's end, after the jobs' processes are killed."""
    _AT_END.append(function)


def _needed(job, node_ids):
    return any(test in node_id for node_id in node_ids for test in job.tests)


def start(node_ids):
    """Runs, in a thread, the jobs that one of the selected tests (``node_ids``) needs, one after another."""
    needed = [job for job in _JOBS.values() if _needed(job, node_ids)]
    if needed:
        threading.Thread(target=lambda: [job.run() for job in needed], name="background jobs", daemon=True).start()


def finish():
    """The session's end: kills the jobs' processes still running, undoes what they asked, removes their folders."""
    for process in _PROCESSES:
        if process.poll() is None:
            process.kill()
            process.wait()
    for function in _AT_END:
        function()
    for folder in _FOLDERS:
        shutil.rmtree(folder, ignore_errors=True)
