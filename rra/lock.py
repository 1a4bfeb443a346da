"""One archiver per work dir: a non-blocking OS file lock plus a note of who holds it.

The lock is flock-based (filelock), so the kernel releases it when its holder
dies: a lock left by a killed process is simply free again.
"""
import json
import os
import socket
import time
from pathlib import Path

import filelock

from . import atomic


class LockedError(Exception):
    """Another archiver works on this work dir; says who and since when."""


class ArchiverLock:
    """Held for the life of the process that writes targets (doit run, rra recover)."""

    def __init__(self, path):
        self.path = Path(path)
        self.info = self.path.with_name(self.path.name + ".holder")
        self._lock = filelock.FileLock(str(self.path))

    def acquire(self, what="rra"):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire(timeout=0)
        except filelock.Timeout:
            raise LockedError("another archiver holds %s: %s; wait for it to finish (or stop "
                              "it) and run again" % (self.path, self.holder())) from None
        atomic.write_text(self.info, json.dumps({
            "pid": os.getpid(), "host": socket.gethostname(), "what": what,
            "started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}) + "\n")
        return self

    def holder(self):
        """'pid N on HOST, started T (what)' from the holder's note, if it left one."""
        try:
            h = json.loads(self.info.read_text())
            return "pid %s on %s, started %s (%s)" % (h["pid"], h["host"], h["started"], h["what"])
        except (OSError, ValueError, KeyError):
            return "holder unknown"

    def release(self):
        if self._lock.is_locked:
            try:
                self.info.unlink()
            except OSError:
                pass
            self._lock.release()

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
