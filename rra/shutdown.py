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
import sys
import threading
import time

from doit import cmd_run, runner

from .exitcodes import FAILED, INTERRUPTED

log = logging.getLogger("rra")

_signals = []  # monotonic times of the signals received
_runners = []  # doit runners of this process, to stop gently
_master = None  # pid that installed the handler (doit's workers inherit it)
_run_all = runner.Runner.run_all
_execute = cmd_run.Run._execute
EXIT_WITHIN = 10.0  # seconds the process may take to exit once doit has finished


def stopping():
    """True once Ctrl-C or SIGTERM asked this process to stop (long store batches check it)."""
    return bool(_signals)


def _on_signal(signum, frame):
    now = time.monotonic()
    _signals.append(now)
    if len([t for t in _signals if now - t <= 2.0]) >= 3:
        _stop_now()
    if len(_signals) == 1 and os.getpid() == _master:
        log.warning(
            "%s: finishing the tasks in flight, then stopping (repeat twice within 2 s to stop now)",
            signal.Signals(signum).name,
        )
        if signum == signal.SIGTERM:  # a Ctrl-C reaches the workers by itself; a kill does not
            for child in multiprocessing.active_children():
                os.kill(child.pid, signum)  # they finish their task, cutting a store batch short
    for r in _runners:
        r._stop_running = True


def _stop_now(signum=None, frame=None):
    """Kill the workers and exit 130 at once.

    A worker that stops now tells doit's process (SIGUSR1, which does the same there):
    signals that reach a busy process close together can be merged into one, so doit's
    process may have counted fewer than three, and it would wait forever for the result of
    a worker that is gone."""
    for child in multiprocessing.active_children():
        child.kill()
    if _master and os.getpid() != _master:
        try:
            os.kill(_master, signal.SIGUSR1)
        except OSError:
            pass
    os._exit(INTERRUPTED)


def _run_all_gently(self, task_dispatcher):
    """doit's run_all, stoppable by the handler; an interrupted run exits 130.

    Whatever happens on the way out, the process then exits within seconds with
    the right code: doit stops its workers with SIGTERM, which they (inheriting
    this handler) take as "finish gently" and ignore while idle, so any worker
    left is killed, and a watchdog ends the process if exiting still hangs.
    """
    _runners.append(self)
    if _signals:
        self._stop_running = True
    code = FAILED
    try:
        result = _run_all(self, task_dispatcher)
        code = INTERRUPTED if _signals else result
    except (sqlite3.Error, OSError) as e:  # doit's state, read as tasks run and saved last
        where = getattr(getattr(self.dep_manager, "backend", None), "name", ".doit.db")
        log.error(
            "cannot read or save doit's state (%s): %s; the tasks it could not record run again next time", where, e
        )
        code = INTERRUPTED if _signals else FAILED
    finally:
        _stop_workers()
        _exit_within(EXIT_WITHIN, code)
    return code


def _stop_workers():
    """Kill the worker processes still alive once run_all is over (they have nothing left to do)."""
    for child in multiprocessing.active_children():
        child.join(0.5)
        if child.is_alive():
            child.kill()
            child.join(2.0)


def _exit_within(seconds, code):
    """A daemon timer that ends the process with code if it has not exited by then."""

    def say():  # may block (a full pipe, a held logging lock): never waited for long
        log.error("still running %.0f s after doit finished: exiting now", seconds)
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass

    def now():
        last_words = threading.Thread(target=say, daemon=True)
        last_words.start()
        last_words.join(1.0)
        os._exit(code)

    timer = threading.Timer(seconds, now)
    timer.daemon = True
    timer.start()


def _execute_one_here(self, *args, **kwargs):
    """doit's Run._execute, with `-n 1` run in this process as without -n.

    One worker process runs the tasks one at a time, as this process would, and only
    adds a round trip to it per task (about 1 ms, five tasks per run).
    """
    if kwargs.get("num_process") == 1:
        kwargs["num_process"] = 0
    return _execute(self, *args, **kwargs)


_execute_one_here.__wrapped__ = _execute  # doit passes the options _execute's signature names


def install():
    """Catch SIGINT and SIGTERM in this process (doit's workers inherit it when they fork), and
    SIGUSR1 from a worker that stopped now."""
    global _master
    _master = os.getpid()
    runner.Runner.run_all = _run_all_gently
    cmd_run.Run._execute = _execute_one_here
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGUSR1, _stop_now)  # a worker stopped now (see _stop_now)
