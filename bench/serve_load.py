"""Load on ``playground serve``: requests per second and latency, every answer checked.

Starts ``playground serve`` (the default model) as a subprocess on a free port, waits for /health,
then POSTs real MNIST test images as PNG files to /predict from concurrent clients (threads, each
with its own keep-alive ``http.client`` connection) and checks every answer equals
``playground predict --json``'s (computed here first, in-process, with the same core code). Prints
requests/s, p50/p95/p99 latency, errors and the server's batch-size histogram (from /health); then
sends a 5 MB junk body and a decompression-bomb PNG, checks both get a 4xx, and that /health still
answers.

On a 2-core machine the clients compete with the server for the CPU: the figures are for both
together on one machine, a lower bound for a server with the machine to itself.

usage: python bench/serve_load.py [--requests 2000] [--clients 16] [--threads 1]
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import queue
import re
import signal
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from playground.core.launch import self_command  # noqa: E402


def pngs(count: int) -> list[bytes]:
    from playground.core.data import load_raw

    _, test = load_raw("mnist")
    out = []
    for image in test.images[:count].numpy():
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, "PNG")
        out.append(buffer.getvalue())
    return out


def expected_answers(files: list[bytes]) -> list[dict]:
    """``playground predict --json``'s answers (without the path), by the same core code."""
    import torch

    from playground.core.predict import Classifier
    from playground.core.preprocess import load_image_bytes

    torch.set_num_threads(1)
    classifier = Classifier.from_path()
    return [classifier.answer(load_image_bytes(data, "image"), "image") for data in files]


def bomb_png(width: int = 20_000, height: int = 20_000) -> bytes:
    """A white 1-bit PNG: about 50 kB, 400 megapixels decoded."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + b"\xff" * ((width + 7) // 8)
    z = zlib.compressobj(9)
    data = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def start_server(threads: int) -> tuple[subprocess.Popen, str, int]:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    server = subprocess.Popen([*self_command(), "serve", "--port", "0", "--threads", str(threads)], cwd=ROOT,
                              env=env, stdout=subprocess.PIPE, text=True)
    line = server.stdout.readline()  # "Serving ... at http://127.0.0.1:PORT (docs: ...)"
    found = re.search(r"http://([\d.]+):(\d+)", line)
    if not found:
        server.kill()
        sys.exit(f"the server did not start: {line!r}")
    return server, found[1], int(found[2])


def request(conn: http.client.HTTPConnection, method: str, path: str, body: bytes | None = None,
            content_type: str = "image/png") -> tuple[int, dict]:
    headers = {"Content-Type": content_type} if body is not None else {}
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    return response.status, json.loads(response.read())


def wait_healthy(host: str, port: int) -> dict:
    for _ in range(600):
        try:
            return request(http.client.HTTPConnection(host, port, timeout=10), "GET", "/health")[1]
        except OSError:
            time.sleep(0.05)  # the server is still starting: nothing to wait on but the port
    sys.exit("the server did not answer /health")


def load(host: str, port: int, files: list[bytes], expected: list[dict], clients: int):
    """Every file POSTed once, by ``clients`` threads; (seconds, latencies, errors, wrong answers)."""
    todo: queue.SimpleQueue = queue.SimpleQueue()
    for i in range(len(files)):
        todo.put(i)
    latencies: list[float] = []
    errors: list[str] = []
    wrong: list[int] = []
    start_line = threading.Barrier(clients + 1)

    def client():
        conn = http.client.HTTPConnection(host, port, timeout=30)
        start_line.wait()
        while True:
            try:
                i = todo.get_nowait()
            except queue.Empty:
                return
            began = time.perf_counter()
            try:
                status, answer = request(conn, "POST", "/predict", files[i])
            except (OSError, http.client.HTTPException, ValueError) as exc:
                errors.append(f"{i}: {exc!r}")
                conn = http.client.HTTPConnection(host, port, timeout=30)
                continue
            latencies.append(time.perf_counter() - began)
            if status != 200:
                errors.append(f"{i}: {status} {answer}")
            elif answer != expected[i]:
                wrong.append(i)

    workers = [threading.Thread(target=client) for _ in range(clients)]
    for worker in workers:
        worker.start()
    start_line.wait()
    began = time.perf_counter()
    for worker in workers:
        worker.join()
    return time.perf_counter() - began, latencies, errors, wrong


def hostile(host: str, port: int) -> list[str]:
    """A 5 MB junk body and a decompression bomb: each must get a 4xx, and /health must still answer."""
    failures = []
    for what, body in (("5 MB junk", os.urandom(5_000_000)), ("decompression bomb", bomb_png())):
        conn = http.client.HTTPConnection(host, port, timeout=30)
        try:
            status, answer = request(conn, "POST", "/predict", body)
        except (OSError, http.client.HTTPException) as exc:
            status, answer = 0, {"detail": repr(exc)}
        ok = 400 <= status < 500 and isinstance(answer.get("detail"), str)
        print(f"{what} ({len(body):,} bytes): {status} {answer.get('detail')}")
        healthy = wait_healthy(host, port)["status"] == "ok"
        if not (ok and healthy):
            failures.append(what)
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="the server's torch threads (serve --threads)")
    args = parser.parse_args()

    files = pngs(args.requests)
    expected = expected_answers(files)
    print(f"{len(files)} MNIST test images as PNG ({sum(map(len, files)) / len(files):.0f} bytes each); "
          f"{args.clients} clients; load average before: {os.getloadavg()[0]:.2f}; {os.cpu_count()} CPUs")
    server, host, port = start_server(args.threads)
    try:
        wait_healthy(host, port)
        load(host, port, files[:200], expected[:200], args.clients)  # warm up
        before = wait_healthy(host, port)
        seconds, latencies, errors, wrong = load(host, port, files, expected, args.clients)
        after = wait_healthy(host, port)
        ms = np.percentile(np.array(latencies) * 1000, [50, 95, 99]) if latencies else [float("nan")] * 3
        print(f"{len(latencies) / seconds:,.0f} requests/s; latency p50 {ms[0]:.1f} ms, p95 {ms[1]:.1f} ms, "
              f"p99 {ms[2]:.1f} ms; errors {len(errors)}; answers different from predict's {len(wrong)}")
        for error in errors[:5]:
            print("  error:", error)
        sizes = {int(n): c - before["batch_sizes"].get(n, 0) for n, c in after["batch_sizes"].items()}
        sizes = {n: c for n, c in sorted(sizes.items()) if c}
        print(f"forward passes: {after['batches'] - before['batches']} for {after['inputs'] - before['inputs']} "
              f"images; batch sizes (size: count): {sizes}")
        failures = hostile(host, port)
        print(f"load average after: {os.getloadavg()[0]:.2f}")
    finally:
        server.send_signal(signal.SIGINT)
        try:
            code = server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            code = "killed"
    print(f"server exit code after Ctrl+C: {code}")
    return 1 if errors or wrong or failures or code != 0 else 0


if __name__ == "__main__":
    sys.exit(main())
