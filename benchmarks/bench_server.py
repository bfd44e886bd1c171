"""Load on the web service: face_server.py started on 127.0.0.1 (a free port), then N POST /analyze requests from C
concurrent clients (keep-alive connections), with a 640x480 JPEG of 1 real face and one of 20.

    .venv/bin/python -m benchmarks.bench_server [--requests 500] [--clients 8] [--max-seconds 900] \
        [-- face_server options]

Reports requests/s (requests over the wall time of the run), latency p50/p95/p99, errors (any status but 200, a
connection failure, or a photo answered with another number of faces than was placed) and the server's own
detect and predict medians. Bounded: a run stops at --max-seconds and says how many requests it completed.
Requests go to 127.0.0.1 only.

Then the memory bound (``--large-requests``, default 20; 0 skips it): that many uploads of a 9000 x 9000 PNG
(258 KB, 81 megapixels, under the 89-megapixel limit) from ``--clients`` clients at once, the server's resident
memory sampled every 0.1 s (``/proc/PID/status``) and ``/health`` asked every 0.5 s meanwhile: the server's peak
and final memory, and the slowest ``/health``. ``--large-only`` runs only this. Before issue 21 the server decoded
every upload at once and kept the memory (20 in parallel reached 16.5 GB); it decodes ``server.MAX_DECODES`` at
a time, each shrunk as it is read, and hands the memory back after each.
"""
import argparse
import http.client
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from PIL import Image

from benchmarks.scenes import SCENE_FACES, compose
from facekit.apps.uploads import encode_jpeg

PROJECT = Path(__file__).resolve().parents[1]


def scenes():
    one, _ = compose((480, 640), [(0, 220, 140, 200)])
    twenty, _ = compose((480, 640), [(i % SCENE_FACES, 14 + 125 * (i % 5), 8 + 118 * (i // 5), 104)
                                     for i in range(20)])
    return {"1 face, 640x480": (encode_jpeg(one), 1), "20 faces, 640x480": (encode_jpeg(twenty), 20)}


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(port, options):
    command = [sys.executable, str(PROJECT / "face_server.py"), "--host", "127.0.0.1", "--port", str(port), *options]
    server = subprocess.Popen(command, cwd=PROJECT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"error: the server stopped: {server.stderr.read()[-2000:]}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                return server, command
        except OSError:
            time.sleep(0.5)
    server.kill()
    sys.exit("error: the server did not answer /health within 180 s")


def load(port, body, faces, requests, clients, deadline):
    """``requests`` POST /analyze from ``clients`` threads; returns latencies (s), errors, server timings, wall (s)."""
    latencies, errors, timings = [], [], []
    lock, issued = threading.Lock(), [0]

    def client():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        while True:
            with lock:
                if issued[0] >= requests or time.monotonic() > deadline:
                    return
                issued[0] += 1
            start = time.perf_counter()
            try:
                connection.request("POST", "/analyze", body, {"Content-Type": "image/jpeg"})
                response = connection.getresponse()
                answer = response.read()
                elapsed = time.perf_counter() - start
                if response.status != 200:
                    raise RuntimeError(f"status {response.status}: {answer[:200]!r}")
                answer = json.loads(answer)
                if len(answer["faces"]) != faces:
                    raise RuntimeError(f"{len(answer['faces'])} faces instead of {faces}")
                with lock:
                    latencies.append(elapsed)
                    timings.append(answer["timings"])
            except (OSError, RuntimeError, ValueError, http.client.HTTPException) as error:
                with lock:
                    errors.append(str(error))
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors, timings, time.perf_counter() - start


def large_png(side=9000):
    buffer = io.BytesIO()
    Image.new("RGB", (side, side), (90, 90, 90)).save(buffer, format="PNG")
    return buffer.getvalue()


def resident_mb(pid):
    """The process's resident memory (MB), from /proc; None when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmRSS"))
    except (OSError, StopIteration):
        return None


def large_load(server, port, requests, clients, deadline):
    """``requests`` uploads of a 9000 x 9000 PNG from ``clients`` threads, the server's memory sampled meanwhile and
    /health timed -> (memory before, peak, after the load (MB), slowest /health (s), answers by status)."""
    body, statuses, health, samples, done = large_png(), {}, [], [], threading.Event()
    before = resident_mb(server.pid)

    def sample():
        while not done.is_set():
            samples.append(resident_mb(server.pid) or 0)
            time.sleep(0.1)

    def ask_health():
        while not done.is_set():
            start = time.perf_counter()
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                connection.request("GET", "/health")
                connection.getresponse().read()
                health.append(time.perf_counter() - start)
            except OSError:
                health.append(float("inf"))
            time.sleep(0.5)

    lock, issued = threading.Lock(), [0]

    def client():
        while True:
            with lock:
                if issued[0] >= requests or time.monotonic() > deadline:
                    return
                issued[0] += 1
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
                connection.request("POST", "/analyze", body, {"Content-Type": "image/png"})
                response = connection.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException) as error:
                status = type(error).__name__
            with lock:
                statuses[status] = statuses.get(status, 0) + 1

    watchers = [threading.Thread(target=sample), threading.Thread(target=ask_health)]
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in watchers + threads:
        thread.start()
    for thread in threads:
        thread.join()
    time.sleep(1)  # what stays after the requests
    done.set()
    for thread in watchers:
        thread.join()
    return before, max(samples, default=0), resident_mb(server.pid), max(health, default=0), statuses


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--max-seconds", type=float, default=900, help="the whole run stops after this (default 900)")
    parser.add_argument("--large-requests", type=int, default=20,
                        help="uploads of a 9000 x 9000 PNG for the memory bound (default 20; 0: none)")
    parser.add_argument("--large-only", action="store_true", help="only the memory bound")
    parser.add_argument("options", nargs="*", help="face_server.py options, after --")
    args = parser.parse_args()
    deadline = time.monotonic() + args.max_seconds
    port = free_port()
    server, command = start_server(port, args.options)
    print(f"server: {' '.join(Path(part).name if i < 2 else part for i, part in enumerate(command))}")
    print(f"{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f} at the start")
    print("| photo | requests | clients | requests/s | p50 | p95 | p99 | errors | server detect / predict (median) |")
    print("|---|---|---|---|---|---|---|---|---|")
    try:
        for name, (body, faces) in ({} if args.large_only else scenes()).items():
            load(port, body, faces, args.clients, args.clients, deadline)  # warm-up: one request per client
            latencies, errors, timings, wall = load(port, body, faces, args.requests, args.clients, deadline)
            done = len(latencies) + len(errors)
            ms = {share: percentile(latencies, share) * 1000 for share in (0.5, 0.95, 0.99)} if latencies else {}
            detect = statistics.median(t["detect"] for t in timings) * 1000 if timings else float("nan")
            predict = statistics.median(t["predict"] for t in timings) * 1000 if timings else float("nan")
            print(f"| {name} | {done}{'' if done == args.requests else ' (stopped at --max-seconds)'} | "
                  f"{args.clients} | {done / wall:.1f} | {ms.get(0.5, 0):.0f} ms | {ms.get(0.95, 0):.0f} ms | "
                  f"{ms.get(0.99, 0):.0f} ms | {len(errors)} | {detect:.0f} / {predict:.0f} ms |", flush=True)
            for error in sorted(set(errors))[:5]:
                print(f"  error: {error}")
        if args.large_requests:
            before, peak, after, slowest, statuses = large_load(server, port, args.large_requests, args.clients,
                                                                deadline)
            print(f"\nmemory bound: {args.large_requests} uploads of a 9000 x 9000 PNG, {args.clients} clients at "
                  f"once: server memory {before:.0f} MB before, peak {peak:.0f} MB, {after:.0f} MB after; slowest "
                  f"/health {slowest:.2f} s; answers {statuses}", flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
