"""A photo library through face_demo.py (--no-annotate, JSON Lines): photos/s and where the time goes, before and after
issue 29's pipeline (the next photos read and decoded in threads while one is analysed) and reduced JPEG decode, in
one run, alternating, so that the ratios hold on a loaded machine.

    .venv/bin/python -m benchmarks.bench_library --folder ../shared/data/aaf/images --photos 1000 --rounds 3
    .venv/bin/python -m benchmarks.bench_library --photos 200 --enlarge 8 --min-face 160   # large JPEGs

1. In this process, the model and detector loaded once: each way over the same photos, alternating, --rounds times
   (the median shown): ``before`` (each photo read, decoded whole, analysed and written in turn: face_demo.py
   --read-ahead 0 --full-decode), ``read-ahead`` (--read-ahead 4, decoded whole) and ``after`` (read ahead and
   reduced decode: face_demo.py's default). Each line: photos/s, and the share of each stage's seconds (decode,
   detect, predict, write: the JSON line) in their sum; decoding overlaps the analysis when read ahead, so the sum
   can exceed the time taken. The lines ``before`` and ``read-ahead`` write are checked to be the same.
2. face_demo.py as a command, start-up included (unless --no-commands), one process: ``--read-ahead 0
   --full-decode`` and read ahead (the default), alternating; then ``--workers 2`` (what ``--workers auto``, the
   default, runs for 200 photos or more on 2 cores or more) and a local 2-worker Dask cluster (when the cluster extra
   is installed); the time to the first result on the whole folder (output checks included).

``--enlarge F`` writes each photo F times larger (a JPEG, quality 92) to a scratch folder first: a library of large
photos of the same faces, where reduced decode applies (with --min-face 80 or more; none below, by design:
docs/demos.md). All-Age-Faces' photos are 309x395: read whole whatever the options.
"""
import argparse
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

from facekit.apps.cli import analyzer_from_options
from facekit.apps.library import READ_AHEAD, JsonLines, auto_workers, pipelined_results
from facekit.apps.photos import reduced_decode
from facekit.core.paths import shared_dir
from facekit.infer.options import AnalyzerOptions
from facekit.vision.images import images_in, read_image, write_image

SHARED = shared_dir()  # ../shared, or FACEKIT_SHARED

PROJECT = Path(__file__).resolve().parents[1]
STAGES = ("decode", "detect", "predict", "write")
WAYS = {"before": (0, False), "read-ahead": (READ_AHEAD, False), "after": (READ_AHEAD, True)}  # (read ahead, reduced)


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
                    "--overwrite", *parallel, *options], cwd=PROJECT, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    return len(photos) / seconds, (children_cpu_seconds() - cpu_before) / seconds


def children_cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def in_process(photos, analyzer, reduced, jsonl, read_ahead):
    """One pass of face_demo.py's loop over ``photos`` in this process: (seconds, {stage: seconds}, lines)."""
    timings = {"write": 0.0}
    writer = JsonLines(jsonl)
    start = time.perf_counter()
    for entry, _ in pipelined_results(analyzer, [(photo, None) for photo in photos], read_ahead, reduced, timings):
        written = time.perf_counter()
        writer.write(entry)
        timings["write"] += time.perf_counter() - written
    seconds = time.perf_counter() - start
    writer.close()
    return seconds, timings, jsonl.read_text().splitlines()


def stage_report(photos, options, scratch, rounds):
    """Part 1: every way, alternating, ``rounds`` times; prints photos/s and the stages' shares (medians)."""
    runs = {way: [] for way in WAYS}
    analyzer = analyzer_from_options(options, False)
    reduced = reduced_decode(options, analyzer)
    in_process(photos[:3], analyzer, None, scratch / "warm.jsonl", 0)  # the runtime's first calls, not counted
    for _ in range(rounds):
        for way, (read_ahead, reduce) in WAYS.items():
            runs[way].append(in_process(photos, analyzer, reduced if reduce else None, scratch / f"{way}.jsonl",
                                        read_ahead))
    same = runs["before"][-1][2] == runs["read-ahead"][-1][2]
    reduced = sum("detection_scale" in json.loads(line) for line in runs["after"][-1][2])
    print(f"in this process, {len(photos)} photos, --no-annotate, median of {rounds} (pipelined lines the same as "
          f"one at a time: {'yes' if same else 'NO'}; decoded reduced: {reduced} of {len(photos)}):")
    base = None
    for way, passes in runs.items():
        rate = len(photos) / statistics.median(seconds for seconds, _, _ in passes)
        base = base or rate
        stage = {name: statistics.median(timings.get(name, 0.0) for _, timings, _ in passes) for name in STAGES}
        total = sum(stage.values())
        shares = ", ".join(f"{name} {stage[name] / total:.0%} ({1000 * stage[name] / len(photos):.1f} ms)"
                           for name in STAGES)
        print(f"  {way:<10} {rate:6.1f} photos/s (x{rate / base:.2f}); {shares}")
    return same


def command_report(photos, folder, options, scratch, rounds):
    """Part 2: face_demo.py as a command, start-up included."""
    ways = {"--read-ahead 0 --full-decode": ["--read-ahead", "0", "--full-decode"], "read ahead (one process)": []}
    rates = {way: [] for way in ways}
    for _ in range(rounds):
        for way, extra in ways.items():
            rates[way].append(throughput(photos, 1, scratch / "command.jsonl", [*options, *extra]))
    kinds = [2] + (["local:2"] if importlib.util.find_spec("distributed") else [])
    parallel = {workers: throughput(photos, workers, scratch / f"w{index}.jsonl", options)
                for index, workers in enumerate(kinds)}
    print(f"face_demo.py {len(photos)} photos --no-annotate, start-up included:")
    base = statistics.median(rate for rate, _ in rates["--read-ahead 0 --full-decode"])
    for way, runs in rates.items():
        rate, busy = statistics.median(rate for rate, _ in runs), statistics.median(busy for _, busy in runs)
        print(f"  {way:<28} {rate:6.1f} photos/s (x{rate / base:.2f}), {busy:.2f} of {os.cpu_count()} cores busy")
    for workers, (rate, busy) in parallel.items():
        option = f"--workers {workers}" if isinstance(workers, int) else f"--cluster {workers}"
        option += " (auto's choice)" if workers == auto_workers(len(photos)) else ""
        print(f"  {option:<28} {rate:6.1f} photos/s (x{rate / base:.2f}), {busy:.2f} of {os.cpu_count()} cores busy")
    seconds = first_result([sys.executable, "face_demo.py", str(folder), "--jsonl", str(scratch / "first.jsonl"),
                            "--no-annotate", *options], scratch / "first.jsonl")
    print(f"  first result on the whole folder ({len(images_in(folder))} photos): {seconds:.2f} s")


def enlarged(photos, factor, folder):
    """Each photo ``factor`` times larger, as a JPEG in ``folder``."""
    folder.mkdir()
    copies = []
    for photo in photos:
        image = read_image(photo)
        size = (image.shape[1] * factor, image.shape[0] * factor)
        copies.append(folder / f"{photo.stem}.jpg")
        write_image(copies[-1], cv2.resize(image, size, interpolation=cv2.INTER_CUBIC))
    return copies


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", type=Path, default=SHARED / "data" / "aaf" / "images")
    parser.add_argument("--photos", type=int, default=300, help="photos for the throughput runs")
    parser.add_argument("--rounds", type=int, default=3, help="passes of each way, alternating (medians shown)")
    parser.add_argument("--min-face", type=int, default=None,
                        help="passed to face_demo.py (40: YuNet at full resolution; 80 or more: reduced decode)")
    parser.add_argument("--enlarge", type=int, default=1, help="write the photos this many times larger first")
    parser.add_argument("--no-commands", action="store_true", help="part 1 only (in this process)")
    args = parser.parse_args()
    options = [] if args.min_face is None else ["--min-face", str(args.min_face)]
    photos = images_in(args.folder)[:args.photos]
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; {args.folder}"
          + (f", enlarged x{args.enlarge}" if args.enlarge > 1 else ""))
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        folder = args.folder
        if args.enlarge > 1:
            photos = enlarged(photos, args.enlarge, scratch / "enlarged")
            folder = scratch / "enlarged"
        same = stage_report(photos, AnalyzerOptions(min_face=args.min_face), scratch, args.rounds)
        if not args.no_commands:
            command_report(photos, folder, options, scratch, args.rounds)
    sys.exit(0 if same else 1)


if __name__ == "__main__":
    main()
