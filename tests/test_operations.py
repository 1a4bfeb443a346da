"""Operating the archiver: the work-dir lock, signals, exit codes, recorded failures."""

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from conftest import ROOT, make_records, start_m, write_config
from rra.artdaqdb import open_artdaqdb
from rra.artdaqdb.check import check
from rra.ucondb import open_ucondb
from testserver import TestServer

PASSWORD = "ops-Secret-1"


def doit_popen(cfg, *args):
    """doit in the background, its own process group: its stdout a pipe to read line by line,
    its stderr a file."""
    err = tempfile.TemporaryFile("w+")
    proc = start_m(
        "doit",
        "-f",
        ROOT / "dodo.py",
        *args,
        "config=%s" % cfg,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=err,
        start_new_session=True,
    )
    proc.err_file = err
    return proc


def finish(proc, timeout):
    """(the rest of stdout, stderr) once proc has exited; a hang kills its group.

    The rest is read through proc.stdout, whose buffer may already hold lines that came in
    one read with the last line a test looked at: communicate() reads the pipe beneath that
    buffer, and those lines would be lost (a task that ran but seems not to have)."""
    timer = threading.Timer(timeout, os.killpg, (proc.pid, signal.SIGKILL))
    timer.start()
    try:
        rest = proc.stdout.read()
        proc.wait()
    finally:
        timer.cancel()
    proc.err_file.seek(0)
    err = proc.err_file.read()
    assert proc.returncode != -signal.SIGKILL, "hung for %d s; stderr:\n%s" % (timeout, err[-3000:])
    return rest, err


def run_doit(cfg, *args):
    proc = doit_popen(cfg, *args)
    out, err = finish(proc, timeout=300)
    return proc.returncode, out, err


HOLD = """
import sys, time
from rra.lock import ArchiverLock
lock = ArchiverLock(sys.argv[1]).acquire("test holder")
print("held", flush=True)
time.sleep(60)
"""


def test_second_instance_exits_1_naming_the_holder_and_dead_holders_are_taken_over(tmp_path):
    records = make_records(tmp_path / "records", 100, 2)
    cfg = write_config(tmp_path, records)
    lock = tmp_path / "work" / ".archiver.lock"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(lock)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        code, out, err = run_doit(cfg)
        assert code == 1
        assert "another archiver holds" in err and "pid %d" % holder.pid in err, err
        assert "started" in err and "Traceback" not in err
        assert not (tmp_path / "work" / "runs").exists()
        code, out, err = run_doit(cfg, "list")  # reading needs no lock
        assert code == 0 and "fhiclize" in out
    finally:
        holder.kill()
        holder.wait()
    code, out, err = run_doit(cfg)  # the dead holder's lock is free again
    assert code == 0, out + err


@pytest.fixture
def slow_server(tmp_path):
    with TestServer(tmp_path / "server.sqlite", folders=["test01"], password=PASSWORD, latency_ms=40) as srv:
        yield srv


def one_version_per_run(server, runs):
    client = open_ucondb(server.url, "test01", "configuration")
    versions = client.versions()
    assert sorted(int(m.key) for m in versions if m.key) == sorted(runs)
    assert len(versions) == len(runs), "duplicate uploads"


def validated(tmp_path, runs):
    return [r for r in runs if (tmp_path / "work" / "runs" / str(r) / "validated.md5").exists()]


def executed(lines):
    return {line[3:].strip() for line in lines if line.startswith(".  ")}


@pytest.mark.parametrize("how", ["SIGINT to the group", "SIGTERM to doit"])
def test_one_signal_finishes_in_flight_saves_state_and_exits_130(tmp_path, slow_server, how):
    runs = list(range(200, 250))
    records = make_records(tmp_path / "records", 200, 50, "--lite")
    cfg = write_config(tmp_path, records, ucon=(slow_server.url, "writer", PASSWORD))
    proc = doit_popen(cfg, "-n", "2")
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if sum(line.startswith(".  ucondb:") for line in lines) == 5:
            break
    if how.startswith("SIGINT"):
        os.killpg(proc.pid, signal.SIGINT)
    else:
        proc.send_signal(signal.SIGTERM)
    rest, err = finish(proc, timeout=120)
    assert proc.returncode == 130, rest + err
    assert "finishing the tasks in flight" in err
    assert "Traceback" not in rest + err
    first = executed(lines + rest.splitlines())
    assert len(validated(tmp_path, runs)) < 50 and len(first) < 250
    code, out, err = run_doit(cfg, "-n", "2")
    assert code == 0, out + err
    second = executed(out.splitlines())
    assert not first & second, "state was not saved: finished tasks ran again"
    every = {"%s:%d" % (stage, r) for stage in ("fhiclize", "artdaqdb", "blob", "ucondb", "validate") for r in runs}
    assert first | second == every, "never ran: %s" % sorted(every - (first | second))
    assert validated(tmp_path, runs) == runs
    one_version_per_run(slow_server, runs)


@pytest.mark.parametrize("workers", ["-n1", "-n2"])
def test_a_signal_cuts_a_store_batch_short(tmp_path, workers):
    """One SIGTERM during a big store batch: the runs made so far are stored, not all 60."""
    records = make_records(tmp_path / "records", 400, 60)
    cfg = write_config(tmp_path, records)
    proc = doit_popen(cfg, workers, "import")
    for line in proc.stdout:
        if line.startswith(".  artdaqdb:"):
            break
    proc.send_signal(signal.SIGTERM)  # to doit alone: it passes it on to its workers
    rest, err = finish(proc, timeout=300)
    assert proc.returncode == 130, rest + err
    adb = open_artdaqdb("filesystemdb://%s" % (tmp_path / "work" / "artdaqdb"))
    stored = adb.runs()
    assert 0 < len(stored) < 60, "the whole batch was stored after the signal"
    assert check(adb) == []
    code, out, err = run_doit(cfg, workers, "import")
    assert code == 0, out + err
    assert adb.runs() == list(range(400, 460))
    assert all(
        adb.latest(r).version == "%d/%s" % (r, adb.latest(r).configuration.split("/", 1)[1]) for r in stored
    )  # stored once: no second version for the runs cut short before
    assert check(adb) == []


def uploading(tmp_path, server, first):
    """(runs, config, doit) for 30 runs from first, doit -n 2 in the background once it uploads."""
    records = make_records(tmp_path / "records", first, 30, "--lite")
    cfg = write_config(tmp_path, records, ucon=(server.url, "writer", PASSWORD))
    proc = doit_popen(cfg, "-n", "2")
    for line in proc.stdout:
        if line.startswith(".  ucondb:"):
            break
    return list(range(first, first + 30)), cfg, proc


def a_rerun_converges(tmp_path, cfg, server, runs):
    code, out, err = run_doit(cfg, "-n", "2")
    assert code == 0, out + err
    assert validated(tmp_path, runs) == runs
    one_version_per_run(server, runs)


def test_three_signals_stop_now_and_a_rerun_converges(tmp_path, slow_server):
    runs, cfg, proc = uploading(tmp_path, slow_server, 300)
    for _ in range(3):
        try:
            os.killpg(proc.pid, signal.SIGINT)
        except ProcessLookupError:
            break  # it stopped already: the tasks in flight were done (and it was reaped at once)
        time.sleep(0.05)
    finish(proc, timeout=60)
    assert proc.returncode == 130
    a_rerun_converges(tmp_path, cfg, slow_server, runs)


def children(pid):
    """The pids whose parent is pid."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open("/proc/%s/stat" % entry).read()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                found.append(int(entry))
    return found


def test_a_worker_that_stops_now_stops_doit_too(tmp_path, slow_server):
    """Three signals that reach the workers but not doit's own process, as when a busy process
    gets them merged into one: doit's process must not wait forever for the workers' results."""
    runs, cfg, proc = uploading(tmp_path, slow_server, 600)
    workers = children(proc.pid)
    assert len(workers) == 2, workers
    for _ in range(3):
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGINT)
        time.sleep(0.05)
    finish(proc, timeout=60)
    assert proc.returncode == 130
    a_rerun_converges(tmp_path, cfg, slow_server, runs)


def tgkill(pid, tid, signum):
    """A signal to one thread of another process (with os.kill the kernel picks the thread)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.tgkill(pid, tid, signum) != 0:
        raise OSError(ctypes.get_errno(), "tgkill %d %d" % (pid, tid))


def test_signals_that_another_thread_of_doit_takes_still_count(tmp_path):
    """The kernel may hand a signal for doit's process to any of its threads (it does when the
    main thread has one pending), and CPython runs the handler only once the main thread's
    system call returns: doit's main thread waits in one for its workers' results. Three
    signals taken by another thread while both workers hang in an upload must stop it now."""
    with TestServer(tmp_path / "server.sqlite", folders=["test01"], password=PASSWORD, hang_s=120) as server:
        server.fail_next("hang", "hang", method="POST")
        records = make_records(tmp_path / "records", 700, 4, "--lite")
        cfg = write_config(tmp_path, records, ucon=(server.url, "writer", PASSWORD))
        cfg.write_text(cfg.read_text().replace("timeout_seconds: 2", "timeout_seconds: 120"))
        proc = doit_popen(cfg, "-n", "2")
        while server.count("POST") < 2:  # both workers wait for an answer, and doit for theirs
            assert proc.poll() is None, finish(proc, timeout=10)
            time.sleep(0.05)
        thread = min(int(t) for t in os.listdir("/proc/%d/task" % proc.pid) if int(t) != proc.pid)
        for _ in range(3):
            tgkill(proc.pid, thread, signal.SIGINT)
            time.sleep(0.05)
        finish(proc, timeout=30)  # the uploads hang for 120 s: only a stop now ends it sooner
        assert proc.returncode == 130
        a_rerun_converges(tmp_path, cfg, server, list(range(700, 704)))


def test_failures_are_recorded_for_the_report_and_cleared_on_success(tmp_path, slow_server):
    records = make_records(tmp_path / "records", 400, 2)
    cfg = write_config(tmp_path, records, ucon=(slow_server.url, "writer", "bad-Pass"))
    code, out, err = run_doit(cfg)
    assert code == 1
    record = json.loads((tmp_path / "work" / "runs" / "400" / "failed-ucondb.json").read_text())
    assert record["run"] == 400 and record["stage"] == "ucondb"
    assert "401" in record["error"] or "uthori" in record["error"]
    assert "bad-Pass" not in json.dumps(record)
    cfg = write_config(tmp_path, records, ucon=(slow_server.url, "writer", PASSWORD))
    code, out, err = run_doit(cfg)
    assert code == 0, out + err
    assert not list((tmp_path / "work" / "runs").glob("*/failed-*.json"))


EXIT_DODO = """
from doit.exceptions import TaskFailed
from rra import exitcodes
exitcodes.install()
DOIT_CONFIG = {"continue": True, "dep_file": %r, "backend": "sqlite3"}

def bad_run():
    return TaskFailed("[run 1] [fhiclize] boot.txt: not UTF-8")

def bug():
    raise RuntimeError("an rra bug")

def task_fhiclize():
    yield {"name": "1", "actions": [bad_run], "targets": ["x1"]}
    yield {"name": "2", "actions": [%s], "targets": ["x2"]}

def task_artdaqdb():
    for run in ("1", "2"):
        yield {"name": run, "actions": [lambda: None], "file_dep": ["x" + run]}
"""


@pytest.mark.parametrize("second,code", [("lambda: open('x2', 'w').close()", 1), ("bug", 2)])
def test_exit_codes_failed_run_is_1_blocked_dependents_too_bug_is_2(tmp_path, second, code):
    (tmp_path / "dodo.py").write_text(EXIT_DODO % (str(tmp_path / "db"), second))
    proc = subprocess.run(
        [sys.executable, "-m", "doit", "-f", str(tmp_path / "dodo.py")],
        capture_output=True,
        text=True,
        cwd=str(tmp_path),
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    assert proc.returncode == code, proc.stdout + proc.stderr


def test_one_worker_runs_the_tasks_in_doits_own_process(monkeypatch):
    """doit -n 1 runs as without -n (one worker process only adds a round trip per task); -n 2 forks."""
    import inspect
    from rra import shutdown

    seen = []
    monkeypatch.setattr(shutdown, "_execute", lambda self, outfile, **kw: seen.append(kw["num_process"]))
    for n in (0, 1, 2):
        shutdown._execute_one_here(None, None, num_process=n, par_type="process")
    assert seen == [0, 0, 2]
    assert "num_process" in inspect.signature(shutdown._execute_one_here).parameters  # doit passes options by name
