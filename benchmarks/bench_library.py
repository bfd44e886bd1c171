"""A photo library through face_demo.py: time to the first result on a whole folder (output checks included),
and throughput with --no-annotate for 1 and 2 worker processes and a local 2-worker Dask cluster (when the cluster
extra is installed), in one run (ratios comparable).

    .venv/bin/python -m benchmarks.bench_library [--folder ../shared/data/aaf/images] [--photos 300]
"""
import argparse
import importlib.util
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from facekit.core.paths import shared_dir

SHARED = shared_dir()  # ../shared, or FACEKIT_SHARED

PROJECT = Path(__file__).resolve().parents[1]


def first_result(command, jsonl):
    """Starts ``command``; seconds until ``jsonl`` holds its first line; then stops it."""
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=PROJECT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not (jsonl.exists() and b"\n" in jsonl.read_bytes()[:1 << 20]):
            if process.poll() is not None:
                raise RuntimeError(f"{command} ended with {process.returncode} before a result")
            time.sleep(0.01)
        return time.perf_counter() - start
    finally:
        process.kill()
        process.wait()


def throughput(photos, workers, jsonl, options=()):
    """(photos per second, start-up included; cores kept busy: the run's CPU seconds over its wall seconds);
    ``workers``: a number, or a --cluster address. The cores busy bound what more workers can gain on this machine."""
    cpu_before = children_cpu_seconds()
    start = time.perf_counter()
    parallel = ["--workers", str(workers)] if isinstance(workers, int) else ["--cluster", workers]
    subprocess.run([sys.executable, "face_demo.py", *map(str, photos), "--jsonl", str(jsonl), "--no-annotate",
                    *parallel, *options], cwd=PROJECT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    return len(photos) / seconds, (children_cpu_seconds() - cpu_before) / seconds


def children_cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--folder", type=Path, default=SHARED / "data" / "aaf" / "images")
    parser.add_argument("--photos", type=int, default=300, help="photos for the throughput runs")
    parser.add_argument("--min-face", type=int, default=None,
                        help="passed to face_demo.py (40: YuNet at full resolution, as before --min-face existed)")
    args = parser.parse_args()
    options = [] if args.min_face is None else ["--min-face", str(args.min_face)]
    photos = sorted(args.folder.iterdir())
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        for annotate in ([], ["--no-annotate"]):
            seconds = first_result([sys.executable, "face_demo.py", str(args.folder), "--jsonl",
                                    str(scratch / f"first{len(annotate)}.jsonl"), "--output", str(scratch / "out"),
                                    *annotate, *options], scratch / f"first{len(annotate)}.jsonl")
            print(f"{len(photos)} photos{' ' + annotate[0] if annotate else ''}: first result after {seconds:.2f} s")
        kinds = [1, 2] + (["local:2"] if importlib.util.find_spec("distributed") else [])
        rates = {workers: throughput(photos[:args.photos], workers, scratch / f"w{index}.jsonl", options)
                 for index, workers in enumerate(kinds)}
    for workers, (rate, busy) in rates.items():
        option = f"--workers {workers}" if isinstance(workers, int) else f"--cluster {workers}"
        print(f"{option} --no-annotate: {rate:.1f} photos/s ({args.photos} photos; x{rate / rates[1][0]:.2f}), "
              f"{busy:.2f} of {os.cpu_count()} cores busy")


if __name__ == "__main__":
    main()
