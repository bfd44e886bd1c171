"""face_demo.py --cluster on a local 2-worker Dask cluster: the same JSON Lines as one process, each worker loading
the model once. Skipped only when the cluster extra (dask distributed) is not installed; requirements.txt has it."""
import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import face_demo
from facekit.apps.cli import analyzer_from_options, analyzer_options
from facekit.apps.cluster import cluster_results, parse_cluster, shards
from facekit.core.errors import FaceKitError
from tests.apps.test_library import library

pytest.importorskip("distributed", reason="the cluster extra is not installed: pip install .[cluster]")

PROJECT = Path(__file__).resolve().parents[2]


def sorted_lines(path):
    return sorted((json.loads(line) for line in Path(path).read_text().splitlines()), key=lambda e: e["image"])


@pytest.mark.slow
def test_a_local_cluster_writes_the_lines_of_one_process(tmp_path):
    photos = library(tmp_path / "photos", 9)
    one, cluster = tmp_path / "one.jsonl", tmp_path / "cluster.jsonl"
    for extra, jsonl in (([], one), (["--cluster", "local:2"], cluster)):
        result = subprocess.run([sys.executable, "face_demo.py", photos, "--jsonl", jsonl, "--no-annotate", *extra],
                                cwd=PROJECT, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr
    assert sorted_lines(one) == sorted_lines(cluster) and len(sorted_lines(one)) == 9


def counted_analyzer(options, folder, threads):
    """analyzer_from_options, leaving a file per load named by the worker's process id."""
    with open(Path(folder) / f"{os.getpid()}.loads", "a") as loads:
        loads.write("load\n")
    return analyzer_from_options(options, False, threads)


@pytest.mark.slow
def test_each_worker_loads_the_model_once(tmp_path):
    photos = library(tmp_path / "photos", 12)
    loads = tmp_path / "loads"
    loads.mkdir()
    args = face_demo.parse_args([str(photos), "--jsonl", str(tmp_path / "r.jsonl"), "--no-annotate",
                                 "--detector", "haar"])
    tasks = [(path, None) for path in sorted(photos.iterdir())]
    assert len(shards(tasks, 2)) == 6  # more shards than workers: a worker gets several
    options = analyzer_options(args)
    make_analyzer = functools.partial(counted_analyzer, options, loads)
    results = list(cluster_results("local:2", make_analyzer, tasks, options.key()))
    assert sorted(entry["image"] for entry, _ in results) == sorted(str(path) for path, _ in tasks)
    files = list(loads.iterdir())
    assert 1 <= len(files) <= 2 and all(file.read_text() == "load\n" for file in files)


def test_cluster_addresses_and_options():
    assert parse_cluster("local:3") == ("local", 3) and parse_cluster("tcp://h:8786") == ("remote", "tcp://h:8786")
    with pytest.raises(FaceKitError, match="local:N needs a number"):
        parse_cluster("local:x")
    with pytest.raises(SystemExit):
        face_demo.parse_args(["photos", "--cluster", "local:2"])  # no --jsonl
