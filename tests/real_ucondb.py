"""The real UconDB 3.9.7 server from ../shared/reference/ucondb, run for the test session.

setup.sh installs it (PostgreSQL 15 with a data dir of its own, a venv) into a temp
prefix; ports are chosen free, so an instance already running on 9443 does not collide.
Each scenario starts from reset(): folders run_records and test01, no objects.
"""

import os
import random
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

USER, PASSWORD = "archiver", "archiver-secret"  # what setup.sh writes into the server config
FOLDERS = ("run_records", "test01")
# webpie logs a line per request: "... :PORT GET /app/version -> UConDBServerApp /app/version 200 5"
LOGGED = re.compile(r" (GET|POST|PUT) /app(/\S*) -> \S+ \S+ (\d+)")


def free_port():
    """A free port below the kernel's ephemeral range: the server is stopped and started again
    on it between scenarios, and a port from that range (what bind(0) gives) can meanwhile be
    taken by any connection the suite's other tests open ('Address already in use')."""
    try:
        low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(10000, max(low, 10001))
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below %d" % low)


class RealUconDB:
    """One installed instance: url, reset(), stop(), and the server's request log."""

    def __init__(self, source):
        if os.geteuid() != 0:
            raise RuntimeError(
                "setup.sh must run as root (it installs packages and runs PostgreSQL as the postgres user)"
            )
        # PostgreSQL runs as postgres: every directory above its data dir must be traversable.
        self.prefix = Path(tempfile.mkdtemp(prefix="rra-ucondb-", dir="/tmp"))
        self.prefix.chmod(0o755)
        self.port = free_port()
        env = dict(os.environ, UCONDB_PORT=str(self.port), PGPORT=str(free_port()))
        setup = subprocess.run(
            ["bash", str(Path(source) / "setup.sh"), str(self.prefix)],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        if setup.returncode:
            raise RuntimeError(
                "setup.sh failed (exit %d):\n%s%s" % (setup.returncode, setup.stdout[-3000:], setup.stderr[-3000:])
            )
        self.url = "http://127.0.0.1:%d/app" % self.port
        self.user, self.password = USER, PASSWORD
        self.log = self.prefix / "ucondb.log"

    def _script(self, name):
        done = subprocess.run([str(self.prefix / name)], capture_output=True, text=True, timeout=300)
        if done.returncode:
            raise RuntimeError("%s failed: %s%s" % (name, done.stdout, done.stderr))

    def reset(self):
        """Empty folders run_records and test01, the server running."""
        self._script("reset.sh")
        self._script("start.sh")
        self._mark = self.log.stat().st_size
        return self

    def stop(self):
        self._script("stop.sh")

    def remove(self):
        try:
            self.stop()
        finally:
            shutil.rmtree(self.prefix, ignore_errors=True)

    def requests(self, method=None, path=""):
        """(method, path, status) of each request the server logged since the last reset.

        webpie logs from its own threads, a moment after it answers: wait until the log
        has stopped growing.
        """
        size, deadline = -1, time.monotonic() + 10
        while time.monotonic() < deadline:
            time.sleep(0.3)
            now = self.log.stat().st_size
            if now == size:
                break
            size = now
        text = self.log.read_bytes()[self._mark :].decode("utf-8", "replace")
        return [(m, p, int(st)) for m, p, st in LOGGED.findall(text) if method in (None, m) and p.startswith(path)]
