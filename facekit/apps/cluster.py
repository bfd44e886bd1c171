"""A photo library on a cluster: face_demo.py --cluster, on Dask distributed (pip install .[cluster]).

The photos (files or folders, read by the workers: a file system they all reach) are cut into shards; each shard is
one task on a worker, which loads the model and detector once (the first time it gets a shard) and keeps them for
the next shards; each photo's entry is face_demo.py's own (facekit.apps.photos.analyze_photo), so the JSON Lines
file is the one a single process writes, in another order. ``--cluster tcp://HOST:8786`` uses a running cluster
(``dask scheduler``, ``dask worker``); ``--cluster local:N`` starts N worker processes on this machine and stops them
at the end.

Why Dask distributed rather than Ray: it is pure Python and pip-installable (about 10 MB with its dependencies,
against Ray's hundreds), a local cluster starts in a couple of seconds on two cores (the test starts one), and a
real one is two commands; its futures give each shard's results as they finish, which is all this needs.
"""
import functools
import math
import os
import threading
from collections.abc import Iterator, Sequence
from typing import Literal

from facekit.apps.library import MakeAnalyzer, Result, Task
from facekit.apps.photos import PhotoAnalyzer, analyze_photo
from facekit.core.errors import FaceKitError
from facekit.core.extras import require

SHARD_PHOTOS = 16  # at most, per task: small enough to spread a library evenly, large enough to keep tasks cheap
_analyzers: dict[str, tuple[PhotoAnalyzer, threading.Lock]] = {}  # per worker process: key -> (analyzer, lock)
_loading = threading.Lock()


def _analyzer(key: str, make_analyzer: MakeAnalyzer, threads: int | None) -> tuple[PhotoAnalyzer, threading.Lock]:
    with _loading:
        if key not in _analyzers:
            _analyzers[key] = (make_analyzer(threads), threading.Lock())
        return _analyzers[key]


def analyze_shard(key: str, make_analyzer: MakeAnalyzer, threads: int | None, tasks: Sequence[Task]) -> list[Result]:
    """On a worker: (image, output or None) pairs -> their (entry, summary), with the worker's analyzer for ``key``
    (loaded by ``make_analyzer(threads)`` on its first shard). One photo at a time per analyzer (it is not
    thread-safe)."""
    analyzer, lock = _analyzer(key, make_analyzer, threads)
    with lock:
        return [analyze_photo(analyzer, image, output) for image, output in tasks]


def shards(tasks: Sequence[Task], workers: int) -> list[Sequence[Task]]:
    """Tasks cut into about four shards per worker, at most SHARD_PHOTOS photos each, in order."""
    size = max(1, min(SHARD_PHOTOS, math.ceil(len(tasks) / max(1, 4 * workers))))
    return [tasks[start:start + size] for start in range(0, len(tasks), size)]


def parse_cluster(address: str) -> tuple[Literal["local"], int] | tuple[Literal["remote"], str]:
    """``local:N`` -> ("local", N); a scheduler address -> ("remote", address)."""
    if address.startswith("local:"):
        count = address.removeprefix("local:")
        if not count.isdigit() or int(count) < 1:
            raise FaceKitError(f"--cluster local:N needs a number of workers, 1 or more, not {address!r}")
        return "local", int(count)
    return "remote", address


def cluster_results(address: str, make_analyzer: MakeAnalyzer, tasks: Sequence[Task], key: str) -> Iterator[Result]:
    """(entry, summary) of every task as its shard finishes, computed on the Dask cluster at ``address``
    (``local:N``: N worker processes started here, and stopped at the end)."""
    distributed = require("distributed", "--cluster")
    where = parse_cluster(address)
    cluster = None
    threads: int | None
    try:
        if where[0] == "local":
            cluster = distributed.LocalCluster(n_workers=where[1], threads_per_worker=1, processes=True,
                                               dashboard_address=None, silence_logs=40)
            threads = max(1, (os.cpu_count() or 1) // where[1])  # each worker its share of this machine's cores
        else:
            threads = None  # the runtime's default on each machine: all its cores (one worker process per machine)
        try:
            client = distributed.Client(cluster if cluster is not None else where[1], timeout="30s")
        except OSError as error:
            raise FaceKitError(f"cannot reach the Dask scheduler {address}: {error}") from error
        with client:
            workers = max(1, len(client.scheduler_info(n_workers=-1)["workers"]))
            work = functools.partial(analyze_shard, key, make_analyzer, threads)
            futures = [client.submit(work, shard, pure=False) for shard in shards(tasks, workers)]
            for future in distributed.as_completed(futures):
                yield from future.result()
                future.release()
    finally:
        if cluster is not None:
            cluster.close()
