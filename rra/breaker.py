"""The UconDB circuit breaker: after the first refusal or outage, stop sending until the next invocation.

A wrong password or a server that is down fails every run the same way; retrying each
would print the same error per run (2 lines x N runs per tick) and hammer the server.
The first UconDB stage that meets a 401, a TLS failure or an unreachable server (after
its retries) trips the breaker: a file in the work dir, seen by every doit worker
process. Later UconDB stages of the invocation are held back without a request; the
archiver resets it when the next invocation starts (it holds the lock, so no other is
running). Imports into artdaqDB go on meanwhile: nothing waits that need not.
"""

import os

from . import atomic
from .errors import RraError

NAME = ".ucondb-held-back"
PREFIX = "held back: "  # how a held-back task's message starts (the reporter counts these)


class HeldBack(RraError):
    """This invocation sends nothing more to UconDB (the reason is the first failure's)."""


def _path(work_dir):
    return os.path.join(str(work_dir), NAME)


def reset(work_dir):
    """A new invocation: send again."""
    try:
        os.unlink(_path(work_dir))
    except FileNotFoundError:
        pass


def trip(work_dir, reason):
    """Hold back every later UconDB stage of this invocation; the first reason is kept."""
    if not os.path.exists(_path(work_dir)):
        atomic.write_text(_path(work_dir), str(reason) + "\n")


def reason(work_dir):
    """Why the breaker is open, or None."""
    try:
        with open(_path(work_dir), encoding="utf-8") as f:
            return f.read().strip() or "UconDB refused or unreachable"
    except FileNotFoundError:
        return None


def check(work_dir):
    """Raise HeldBack if an earlier stage of this invocation tripped the breaker."""
    why = reason(work_dir)
    if why is not None:
        raise HeldBack(PREFIX + why)
