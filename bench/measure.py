"""Shared bench helpers: realistic run records, configs, and a command's time and total RSS.

Total RSS is sampled over the whole process tree (doit's workers included), every 0.1 s.
"""

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAKE = ROOT / "tests" / "records.py"  # realistic run records
DOIT = [sys.executable, "-m", "doit", "-f", str(ROOT / "dodo.py")]


def make_records(out, count, first=1, lite=True, extra=()):
    if not Path(out).exists():
        subprocess.run(
            [sys.executable, str(MAKE), str(out), "--first", str(first), "--count", str(count)]
            + (["--lite"] if lite else [])
            + list(extra),
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return Path(out)


def write_config(directory, records, ucon_url=None, user="writer", password="bench-pw", folder="test01"):
    path = Path(directory) / "config.yaml"
    path.write_text(
        "app:\n  work_dir: work\n  log_file: null\n  retry_delay_seconds: 0.2\n"
        "source_files:\n  run_records_dir: %s\n"
        "artdaq_db:\n  database_uri: filesystemdb://${app.work_dir}/artdaqdb\n"
        "ucon_db:\n  server_url: %s\n  folder_name: %s\n"
        "  writer_user: %s\n  writer_password: %s\n"
        % (records, ucon_url or "sqlite://${app.work_dir}/ucondb.sqlite", folder, user, password)
    )
    return path


def _tree_rss_kb(pid):
    """Sum of VmRSS over pid and all its descendants."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open("/proc/%d/status" % p) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            for task in os.listdir("/proc/%d/task" % p):
                with open("/proc/%d/task/%s/children" % (p, task)) as f:
                    todo += [int(c) for c in f.read().split()]
        except (OSError, ValueError):
            pass
    return total


def run(cmd, cwd=ROOT, check=True, env=None):
    """(wall seconds, peak total RSS in MB, stdout) of one command."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=str(cwd), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    peak = [0]

    def sample():
        while proc.poll() is None:
            peak[0] = max(peak[0], _tree_rss_kb(proc.pid))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    sampler.join()
    if check and proc.returncode != 0:
        sys.exit("failed (%d): %s\n%s\n%s" % (proc.returncode, " ".join(map(str, cmd)), out[-3000:], err[-3000:]))
    return wall, peak[0] / 1024.0, out


class Server:
    """The UconDB test server in its own process, with injected latency."""

    def __init__(self, db, latency_ms=20, password="bench-pw"):
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "tests" / "testserver.py"),
                "--db",
                str(db),
                "--folder",
                "test01",
                "--latency-ms",
                str(latency_ms),
                "--password",
                password,
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        self.url = self.proc.stdout.readline().split()[-1]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait()
