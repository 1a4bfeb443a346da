"""Bench: UconDB puts per second against the test server with 20 ms latency, sequential vs 8 threads."""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rra.ucondb import open_ucondb

ROOT = Path(__file__).resolve().parents[1]


def blob(i, size):
    """A distinct blob per key, so de-duplication does not flatter the numbers."""
    head = f"Start of Record\nRun Number: {i}\n".encode()
    return head + os.urandom(size // 2).hex().encode()[: size - len(head)]


def run(db, keys, size, workers):
    """Put every key once; blobs per second."""
    data = {k: blob(k, size) for k in keys}
    start = time.perf_counter()
    if workers == 1:
        for k in keys:
            db.put(k, data[k], tags=[str(k)])
    else:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda k: db.put(k, data[k], tags=[str(k)]), keys))
    return len(keys) / (time.perf_counter() - start)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("-n", type=int, default=200, help="blobs per phase")
    p.add_argument("--size", type=int, default=60_000, help="bytes per blob")
    p.add_argument("--latency-ms", type=float, default=20)
    p.add_argument("--workers", type=int, default=8)
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "tests" / "testserver.py"),
                "--port",
                "0",
                "--db",
                f"{tmp}/server.sqlite",
                "--folder",
                "bench",
                "--latency-ms",
                str(a.latency_ms),
                "--password",
                "bench",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            url = server.stdout.readline().strip()
            db = open_ucondb(url, "bench", "configuration", user="writer", password="bench", timeout=10)
            print(f"server {url} (latency {a.latency_ms:g} ms), {a.n} blobs of {a.size} bytes per phase")
            print(f"sequential      : {run(db, range(a.n), a.size, 1):8.1f} blobs/s")
            print(f"{a.workers} threads       : {run(db, range(a.n, 2 * a.n), a.size, a.workers):8.1f} blobs/s")
            local = open_ucondb(f"sqlite://{tmp}/embedded.sqlite", "bench", "configuration")
            print(f"embedded sqlite : {run(local, range(a.n), a.size, 1):8.1f} blobs/s (no server, for scale)")
        finally:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    main()
