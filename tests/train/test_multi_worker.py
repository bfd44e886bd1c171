"""Training on several machines (facekit/train/multi_worker.py): two worker processes on 127.0.0.1, one cluster."""
import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from facekit.core.errors import FaceKitError
from facekit.train.multi_worker import Worker, worker
from tests import background
from tests.synthetic_faces import write_utkface_folder

pytestmark = pytest.mark.slow  # every test here starts worker processes
PROJECT = Path(__file__).resolve().parents[2]
# Ctrl+C raises KeyboardInterrupt as in a terminal even when the suite runs in the background, where the shell
# starts it with SIGINT ignored (and Python then installs no handler of its own): as tests/train/test_training.py.
RUN_IN = ("import signal, sys\nfrom pathlib import Path\n"
          "from facekit.core import paths\npaths.PROJECT_ROOT = Path(sys.argv[1])\n"
          "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
          "{setup}import face_train\nface_train.main(sys.argv[2:])\n")
INTERRUPT_AFTER_FIRST_EPOCH = """import keras
from facekit.train import training
class Interrupt(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        raise KeyboardInterrupt
original = training.callbacks
training.callbacks = lambda *args, **kwargs: original(*args, **kwargs) + [Interrupt()]
"""


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _tf_config(workers, index, kind="worker", chief=()):
    return json.dumps({"cluster": {"worker": workers, **({"chief": list(chief)} if chief else {})},
                       "task": {"type": kind, "index": index}})


def test_tf_config_names_the_chief(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert worker() is None
    for config, expected in ((_tf_config(["a:1"], 0), None),
                             (_tf_config(["a:1", "b:2"], 0), Worker(2, 0, True)),
                             (_tf_config(["a:1", "b:2"], 1), Worker(2, 1, False)),
                             (_tf_config(["b:2"], 0, "chief", chief=["a:1"]), Worker(2, 0, True)),
                             (_tf_config(["b:2"], 0, "worker", chief=["a:1"]), Worker(2, 1, False))):
        monkeypatch.setenv("TF_CONFIG", config)
        assert worker() == expected
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(FaceKitError, match="TF_CONFIG is not a cluster description"):
        worker()
    monkeypatch.setenv("TF_CONFIG", _tf_config(["a:1", "b:2"], -1))  # was a traceback from TensorFlow
    with pytest.raises(FaceKitError, match="task index is -1, but its cluster lists 2 worker"):
        worker()


def _worker_process(project, argv, tf_config, join_timeout_s=None, stderr=subprocess.STDOUT):
    """face_train.py ``argv`` as a worker of ``tf_config`` in a process of its own, under ``project``."""
    return background.popen([sys.executable, "-c", RUN_IN.format(setup=""), str(project), *argv], cwd=PROJECT,
                            stdout=subprocess.PIPE, stderr=stderr, text=True,
                            env={**background.environment(), "TF_CPP_MIN_LOG_LEVEL": "3", "TF_CONFIG": tf_config,
                                 **({"FACEKIT_JOIN_TIMEOUT_S": str(join_timeout_s)} if join_timeout_s else {})})


def _lone_worker(project, data, join_timeout_s):
    """Worker 0 of a cluster of two whose worker 1 never starts: (its process, the cluster's ports)."""
    ports = _free_ports(2)
    argv = ["--data", str(data), "--run", "lone", "--backbone", "simple_cnn", "--weights", "none", "--input-size",
            "32", "--epochs", "1", "--precision", "float32"]
    return _worker_process(project, argv, _tf_config([f"127.0.0.1:{port}" for port in ports], 0),
                           join_timeout_s), ports


SINGLE_WORKER_TESTS = ["test_multi_worker.py::test_a_worker_whose_peer_never_starts_says_so_and_gives_up",
                       "test_multi_worker.py::test_a_waiting_worker_stops_on_ctrl_c_and_sigterm",
                       "test_multi_worker.py::test_a_port_already_taken_is_one_line"]


@background.job("single workers", tests=SINGLE_WORKER_TESTS)
def _single_workers(folder):
    """The four tests below that start one worker each, their processes started at once so that their imports of
    TensorFlow and their waits overlap: "gives up" waits 6 s for its peer (FACEKIT_JOIN_TIMEOUT_S; it says what it
    waits for after 5 s); the two stopped with Ctrl+C and SIGTERM once they say they wait (they would wait 600 s);
    "taken" is told to listen on a port held here. {name: what each test checks}."""
    data = folder / "UTKFace"
    write_utkface_folder(data, count=64)
    with socket.socket() as taken:
        taken.bind(("", 0))
        taken.listen()
        port = taken.getsockname()[1]
        workers = [f"127.0.0.1:{port}", f"127.0.0.1:{_free_ports(1)[0]}"]
        argv = ["--data", str(data), "--run", "taken", "--backbone", "simple_cnn", "--weights", "none"]
        started = {"taken": (_worker_process(folder / "taken", argv, _tf_config(workers, 0),
                                             stderr=subprocess.PIPE), port),
                   "gives up": _lone_worker(folder / "gives_up", data, 6),
                   signal.SIGINT: _lone_worker(folder / "sigint", data, 600),
                   signal.SIGTERM: _lone_worker(folder / "sigterm", data, 600)}
        done = {}
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            process, _ = started[signal_number]
            seen = line = ""
            while "waiting for the other workers" not in seen:
                line = process.stdout.readline()
                if not line:  # it ended before it said so
                    break
                seen += line
            if line:
                process.send_signal(signal_number)
            done[signal_number] = (seen, process.communicate(timeout=20)[0], process.returncode)
        process, ports = started["gives up"]
        done["gives up"] = (process.communicate(timeout=120)[0], process.returncode, ports)
        process, port = started["taken"]
        done["taken"] = (process.communicate(timeout=120)[1], process.returncode, port)
    return done


def test_a_worker_whose_peer_never_starts_says_so_and_gives_up():
    """It waited for ever, silent, deaf to Ctrl+C and SIGTERM (only kill -9 stopped it)."""
    output, returncode, ports = background.result("single workers")["gives up"]
    assert f"waiting for the other workers of TF_CONFIG (127.0.0.1:{ports[1]}) to start" in output
    assert returncode == 2 and f"error: the other workers of TF_CONFIG (127.0.0.1:{ports[1]}) did not " \
        "start within 6 s" in output and "Traceback" not in output


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM])
def test_a_waiting_worker_stops_on_ctrl_c_and_sigterm(signal_number):
    seen, output, returncode = background.result("single workers")[signal_number]
    assert "waiting for the other workers" in seen, seen + output  # then sent the signal
    assert returncode == 130 and "interrupted" in output and "Traceback" not in output, seen + output


@pytest.mark.slow
def test_a_port_already_taken_is_one_line():
    stderr, returncode, port = background.result("single workers")["taken"]
    assert returncode == 2 and f"error: this worker cannot listen on port {port}" in stderr
    assert "Traceback" not in stderr


def _run_workers(project, argv, setup=""):
    """Two workers of one cluster on 127.0.0.1 running face_train.py ``argv``: (exit statuses, outputs)."""
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    processes = [background.popen([sys.executable, "-c", RUN_IN.format(setup=setup), str(project), *argv],
                                  cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  env={**background.environment(), "TF_CPP_MIN_LOG_LEVEL": "3",
                                       "TF_CONFIG": _tf_config(workers, index)})
                 for index in range(2)]
    try:
        outputs = [process.communicate(timeout=240)[0] for process in processes]
    finally:
        for process in processes:
            process.kill()
    return [process.returncode for process in processes], [output[-1500:] for output in outputs]


def _cluster_argv(data, epochs):
    return ["--data", str(data), "--run", "cluster", "--backbone", "simple_cnn", "--weights", "none",
            "--input-size", "32", "--epochs", str(epochs), "--batch-size", "16", "--no-augment", "--precision",
            "float32"]


@background.job("two workers", tests=["test_multi_worker.py::test_two_workers_on_localhost_train_and_the_chief_"])
def _two_workers(folder):
    """A cluster of two on 127.0.0.1 trains a run of one epoch: (exit statuses, outputs, the run's folder)."""
    write_utkface_folder(folder / "UTKFace", count=64)
    return (*_run_workers(folder, _cluster_argv(folder / "UTKFace", epochs=1)), folder / "face_weights" / "cluster")


@pytest.mark.slow
def test_two_workers_on_localhost_train_and_the_chief_writes_the_checkpoint():
    codes, outputs, run_dir = background.result("two workers")
    assert codes == [0, 0], outputs
    assert "worker-1 finished; the chief writes" in outputs[1] and "TensorBoard" in outputs[0]  # the chief's last line
    assert (run_dir / "best.keras").is_file() and (run_dir / "metrics.json").is_file()
    assert len((run_dir / "history.csv").read_text().splitlines()) == 2  # one epoch, written once, by the chief


@background.job("two workers resumed",
                tests=["test_multi_worker.py::test_two_workers_on_localhost_train_the_chief_writes_the_checkpoint_and"])
def _two_workers_resumed(folder):
    """A cluster of two trains a run of two epochs, interrupted (Ctrl+C) after the first; then --resume on both.
    What each part left: {"interrupted": (exit statuses, outputs, the run folder's state then), "resumed": (exit
    statuses, outputs), "run": the run's folder}."""
    write_utkface_folder(folder / "UTKFace", count=64)
    run_dir = folder / "face_weights" / "cluster"
    codes, outputs = _run_workers(folder, _cluster_argv(folder / "UTKFace", epochs=2),
                                  setup=INTERRUPT_AFTER_FIRST_EPOCH)
    state = {name: (run_dir / name).exists() for name in ("best.keras", "metrics.json", "backup", "backup-worker-1")}
    history = (run_dir / "history.csv").read_text() if (run_dir / "history.csv").is_file() else ""
    return {"interrupted": (codes, outputs, state, history),
            "resumed": _run_workers(folder, ["--resume", "--run", "cluster"]), "run": run_dir}


@pytest.mark.slow
def test_two_workers_on_localhost_train_the_chief_writes_the_checkpoint_and_resume_continues():
    done = background.result("two workers resumed")
    # Both train one epoch and are interrupted after it (Ctrl+C): the chief has written the checkpoint.
    codes, outputs, state, history = done["interrupted"]
    assert codes == [130, 130], outputs
    assert "training as the chief of 2 workers" in outputs[0] and "training as the worker-1 of 2 workers" in outputs[1]
    assert state["best.keras"] and not state["metrics.json"]
    assert state["backup"] and state["backup-worker-1"]  # each worker's own back-up
    assert len(history.splitlines()) == 2  # one epoch, written once, by the chief
    # --resume on both continues from the second epoch; both finish, the chief evaluates.
    codes, outputs = done["resumed"]
    run_dir = done["run"]
    assert codes == [0, 0], outputs
    assert "worker-1 finished; the chief writes" in outputs[1]
    assert [row.split(",")[0] for row in (run_dir / "history.csv").read_text().splitlines()[1:]] == ["0", "1"]
    assert (run_dir / "metrics.json").is_file() and not (run_dir / "backup-worker-1").exists()


def test_the_keras_patch_refuses_a_keras_it_was_not_written_for(monkeypatch):
    import keras

    from facekit.train import multi_worker
    monkeypatch.setattr(keras, "__version__", "3.99.0")
    with pytest.raises(FaceKitError, match="patches Keras 3.15.x .*not Keras 3.99.0"):
        multi_worker._patch_keras_reduction()
