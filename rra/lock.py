"""One archiver per work dir: non-blocking OS locks (flock) plus a note of who holds them.

The kernel releases a flock when its holder dies, so rra's lock is never stale: a lock
left by a killed process is simply free again, and nobody ever needs to remove the file.
Two locks are taken: the lock file (it holds the pid, as the legacy archiver's did, for
`kill $(cat .archiver.lock)`) and the work dir itself. A file can be removed while it is
locked (`rm .archiver.lock`, the legacy advice for a "stale lock") and a second archiver
would then lock a new file of the same name; a directory holding files cannot be removed,
so the second archiver still finds the work dir locked.
"""

import atexit
import errno
import fcntl
import json
import os
import socket
import time
from pathlib import Path

from . import atomic
from .errors import RraError

BUSY = (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK)


class LockedError(RraError):
    """Another archiver works on this work dir; says who and since when."""


class ArchiverLock:
    """Held for the life of the process that writes targets (doit run, rra recover).

    work_dir: the directory to lock besides the file (default: the lock file's directory).
    """

    def __init__(self, path, work_dir=None):
        self.path = Path(path)
        self.work_dir = Path(work_dir) if work_dir else self.path.parent
        self.info = self.path.with_name(self.path.name + ".holder")
        self._fds, self._owner = [], None

    @property
    def is_locked(self):
        return bool(self._fds)

    def acquire(self, what="rra"):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._fds.append(self._lock_file())
            self._lock_dir()
        except BaseException:
            self._close()
            raise
        fd, self._owner = self._fds[0], os.getpid()
        atexit.register(self.release)  # the pid must not outlive the holder (a `kill` of a reused pid)
        os.ftruncate(fd, 0)
        os.write(fd, b"%d\n" % os.getpid())  # where the legacy archiver kept it
        atomic.write_text(
            self.info,
            json.dumps(
                {
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "what": what,
                    "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                }
            )
            + "\n",
        )
        return self

    def _lock_file(self):
        """The lock file, locked; opened again if it was removed or replaced meanwhile."""
        for _ in range(10):
            fd = os.open(str(self.path), os.O_RDWR | os.O_CREAT, 0o644)
            try:
                self._flock(fd)
                if os.stat(str(self.path)).st_ino == os.fstat(fd).st_ino:
                    return fd
            except FileNotFoundError:
                pass  # removed between open and stat: try the new one
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)
        raise LockedError("%s keeps being removed or replaced: is something deleting it?" % self.path)

    def _lock_dir(self):
        """The work dir, locked. A file system without flock on directories (some NFS) is
        left with the lock file alone."""
        fd = os.open(str(self.work_dir), os.O_RDONLY | os.O_DIRECTORY)
        try:
            self._flock(fd)
        except LockedError:
            os.close(fd)
            raise
        except OSError:
            os.close(fd)
            return
        self._fds.append(fd)

    def _flock(self, fd):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in BUSY:
                raise
            raise LockedError(
                "another archiver holds %s: %s; wait for it to finish (or stop it: "
                "kill $(cat %s)) and run again" % (self.path, self.holder(), self.path)
            ) from None

    def holder(self):
        """'pid N on HOST, started T (what)' from the holder's note, if it left one."""
        try:
            h = json.loads(self.info.read_text())
            return "pid %s on %s, started %s (%s)" % (h["pid"], h["host"], h["started"], h["what"])
        except (OSError, ValueError, KeyError):
            return "holder unknown"

    def release(self):
        if self._fds and os.getpid() == self._owner:  # not in a forked doit worker
            try:
                self.info.unlink()
            except OSError:
                pass
            try:
                os.ftruncate(self._fds[0], 0)  # no pid left behind for a `kill $(cat ...)`
            except OSError:
                pass
            self._close()

    def _close(self):
        while self._fds:
            os.close(self._fds.pop())  # closing the last descriptor releases the flock

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
