"""Ctrl-C / SIGTERM: once = finish the tasks in flight, start none, save doit's state, exit 130;
three times within 2 s = stop now.

Every target is written atomically, so stopping at any instant leaves nothing
that looks built but is not; at worst doit redoes the tasks it could not record.
"""
import logging
import multiprocessing
import os
import signal
import sqlite3
import time

from doit import runner

from .exitcodes import FAILED, INTERRUPTED

log = logging.getLogger("rra")

_signals = []   # monotonic times of the signals received
_runners = []   # doit runners of this process, to stop gently
_master = None  # pid that installed the handler (doit's workers inherit it)
_run_all = runner.Runner.run_all


def stopping():
    """True once Ctrl-C or SIGTERM asked this process to stop (long store batches check it)."""
    return bool(_signals)


def _on_signal(signum, frame):
    now = time.monotonic()
    _signals.append(now)
    if len([t for t in _signals if now - t <= 2.0]) >= 3:
        for child in multiprocessing.active_children():
            child.kill()
        os._exit(INTERRUPTED)
    if len(_signals) == 1 and os.getpid() == _master:
        log.warning("%s: finishing the tasks in flight, then stopping (repeat twice within 2 s "
                    "to stop now)", signal.Signals(signum).name)
        if signum == signal.SIGTERM:  # a Ctrl-C reaches the workers by itself; a kill does not
            for child in multiprocessing.active_children():
                os.kill(child.pid, signum)  # they finish their task, cutting a store batch short
    for r in _runners:
        r._stop_running = True


def _run_all_gently(self, task_dispatcher):
    """doit's run_all, stoppable by the handler; an interrupted run exits 130."""
    _runners.append(self)
    if _signals:
        self._stop_running = True
    try:
        result = _run_all(self, task_dispatcher)
    except (sqlite3.Error, OSError) as e:  # doit saves its state last: a full disk shows here
        where = getattr(getattr(self.dep_manager, "backend", None), "name", ".doit.db")
        log.error("cannot save doit's state (%s): %s; the tasks it could not record run again "
                  "next time", where, e)
        return INTERRUPTED if _signals else FAILED
    return INTERRUPTED if _signals else result


def install():
    """Catch SIGINT and SIGTERM in this process (doit's workers inherit it when they fork)."""
    global _master
    _master = os.getpid()
    runner.Runner.run_all = _run_all_gently
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
