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


def _on_signal(signum):
    """What a signal means, counted one by one by the thread that reads them (_count_signals)."""
    if signum == signal.SIGUSR1:
        _stop_now()
    if signum not in (signal.SIGINT, signal.SIGTERM):
        return
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


def _stop_now():
    """Kill the workers and exit 130 at once.

    A worker that stops now tells doit's process (SIGUSR1, which does the same there): the
    signals may have reached the workers alone (a kill of their pids), and doit's process
    would wait forever for the result of a worker that is gone."""
    for child in multiprocessing.active_children():
        child.kill()
    if _master and os.getpid() != _master:
        try:
            os.kill(_master, signal.SIGUSR1)
        except OSError:
            pass
    os._exit(INTERRUPTED)


_CAUGHT = (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1)
_pipe = None  # (read end, write end) of the pipe CPython writes each caught signal's number to


def _count_signals():
    """Count each SIGINT, SIGTERM and SIGUSR1 of this process in a thread of its own.

    CPython runs a Python signal handler in the main thread only, once for all the signals
    of a kind that came before it got there (a flag, not a count), and not until the main
    thread's system call returns when the kernel handed the signal to another thread. doit's
    main thread waits for its workers' results in such a call (a pipe read), beside a queue
    thread: three Ctrl-C counted as one or two, and a worker's SIGUSR1 was never acted on,
    leaving doit waiting forever for workers that were gone. CPython's wakeup fd gets one
    byte per signal, from whichever thread caught it; the thread that reads it acts."""
    global _pipe
    read, write = os.pipe()
    os.set_blocking(write, False)  # the C handler must never block
    for signum in _CAUGHT:
        signal.signal(signum, _caught)
    signal.set_wakeup_fd(write, warn_on_full_buffer=False)
    _pipe = (read, write)
    threading.Thread(target=_read_signals, args=(read,), name="rra-signals", daemon=True).start()


def _caught(signum, frame):
    """The Python handler, which must be there for CPython to catch the signal: the thread acts."""


def _read_signals(fd):
    while True:
        try:
            data = os.read(fd, 64)
        except OSError:
            return
        if not data:
            return
        for signum in data:
            _on_signal(signum)


def _before_fork():
    """Hold the signals while forking: the child's own pipe must be in place before it takes any."""
    if _pipe:
        signal.pthread_sigmask(signal.SIG_BLOCK, _CAUGHT)


def _after_fork_in_parent():
    if _pipe:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _CAUGHT)


def _after_fork_in_child():
    """A forked worker counts its own signals (the reading thread stayed in the parent)."""
    global _pipe
    if not _pipe:
        return
    read, write = _pipe
    _pipe = None
    ours = signal.set_wakeup_fd(-1) == write
    os.close(read)
    os.close(write)
    if ours:
        _count_signals()
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _CAUGHT)


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
        # The run is over. Ignored from here, a late signal cannot end the process as killed
        # (status -2, not its code) once Python's exit has put back the default handlers.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
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
    """Catch SIGINT and SIGTERM in this process and in doit's workers, which it forks, and
    SIGUSR1 from a worker that stopped now."""
    global _master
    _master = os.getpid()
    runner.Runner.run_all = _run_all_gently
    cmd_run.Run._execute = _execute_one_here
    _count_signals()


# Registered once, on import; they do nothing in a process that does not count its signals.
os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child)
