"""Nothing lost, nothing mixed up: stray run names, records that change mid-build, damaged
state, secrets. Real doit subprocesses on real files (issue 12)."""

import json
import shutil
import subprocess
import sys

from conftest import ROOT, doit, make_records, python_m, write_config
from rra.ucondb import open_ucondb


def executed(out):
    return sorted(line[3:].strip() for line in out.stdout.splitlines() if line.startswith(".  "))


def failed(out):
    return {line.split()[1].rstrip(":"): line for line in out.stdout.splitlines() if line.startswith("FAILED ")}


def ucondb_versions(tmp_path):
    db = open_ucondb("sqlite://%s" % (tmp_path / "work" / "ucondb.sqlite"), "test01", "configuration")
    return sorted((m.key, m.version_id) for m in db.versions())


def rra(*args):
    return python_m("rra.cli", *args, cwd=ROOT)


# -- stray run names ------------------------------------------------------------------

STRAYS = ["01000", "000", "\u0661\u0660\u0660\u0662", "\u00b2", " 104", "105 ", "run 7", "-5", "106\n"]


def test_stray_run_names_fail_alone_and_never_overwrite_another_run(tmp_path):
    records = make_records(tmp_path / "records", 1000, 4, "--running", 0)
    make_records(tmp_path / "zero", 0, 1, "--running", 0)
    shutil.copytree(tmp_path / "zero" / "0", records / "0")
    cfg = write_config(tmp_path, records)
    first = doit(cfg)
    assert first.returncode == 0, first.stdout + first.stderr
    before = ucondb_versions(tmp_path)
    assert [k for k, _ in before] == ["0", "1000", "1001", "1002", "1003"]

    for name in STRAYS:  # copies of another run under names that look like runs
        shutil.copytree(records / "1003", records / name)
    out = doit(cfg)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr
    bad = failed(out)
    # Three names mean the same number as a run: that run fails, naming both directories.
    assert sorted(bad) == ["fhiclize:0", "fhiclize:1000", "fhiclize:1002"], out.stdout
    assert str(records / "1000") in bad["fhiclize:1000"] and str(records / "01000") in bad["fhiclize:1000"]
    assert str(records / "000") in bad["fhiclize:0"]
    assert "\\u0661" in bad["fhiclize:1002"] or "\u0661" in bad["fhiclize:1002"]
    warnings = [line for line in out.stderr.splitlines() if "are not runs" in line]
    assert len(warnings) == 1 and "9 entries" in warnings[0], out.stderr
    for name in ("' 104'", "'105 '", "'run 7'", "'-5'", "'106\\n'", "'\u00b2'"):
        assert name in warnings[0], (name, warnings[0])
    assert ucondb_versions(tmp_path) == before  # nothing uploaded over another run's key

    report = rra("--config", cfg, "report", "--json")
    assert report.returncode == 0, report.stdout + report.stderr
    doc = json.loads(report.stdout)
    assert len(doc["not_runs"]) == 9
    assert any("rename or move them out" in r for r in doc["recommendations"])
    text = rra("--config", cfg, "report")
    assert text.returncode == 0 and "look like runs but are not" in text.stdout

    new = make_records(tmp_path / "new", 1004, 1, "--running", 0)
    shutil.copytree(new / "1004", records / "1004")  # every other run is still archived
    (records / "01000").chmod(0o755)
    shutil.rmtree(records / "01000")
    out = doit(cfg)
    assert sorted(failed(out)) == ["fhiclize:0", "fhiclize:1002"], out.stdout
    assert "validate:1004" in executed(out) and "validate:1000" not in executed(out)
    assert ucondb_versions(tmp_path)[:5] == before


# -- a record that changes while it is read ---------------------------------------------

# Injected into the doit subprocess only (PYTHONPATH): after fhiclize:R has read R's
# metadata.txt, DAQInterface appends the stop time - deterministically mid-read, no race.
SLOW_READER = r"""
import os, subprocess, sys
import rra.fhiclize
_read = rra.fhiclize.read

def read(run_dir, name, run):
    data = _read(run_dir, name, run)
    flag = os.environ["RRA_TEST_FLAG"]
    if name == "metadata.txt" and str(run) == os.environ["RRA_TEST_RUN"] and not os.path.exists(flag):
        open(flag, "w").close()
        subprocess.run([sys.executable, os.environ["RRA_TEST_MAKE"], os.path.dirname(run_dir),
                        "--stop", str(run)], check=True, stdout=subprocess.DEVNULL)
    return data

rra.fhiclize.read = read
"""


def with_hook(hook):
    """PYTHONPATH with the hook's sitecustomize first, keeping what was there."""
    import os

    return os.pathsep.join(filter(None, [str(hook), os.environ.get("PYTHONPATH")]))


def test_a_stop_time_appended_while_fhiclize_reads_the_record_is_archived_next_tick(tmp_path):
    records = make_records(tmp_path / "records", 1000, 2, "--running", 1)
    cfg = write_config(tmp_path, records)
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(SLOW_READER)
    env = {
        "PYTHONPATH": with_hook(hook),
        "RRA_TEST_FLAG": str(tmp_path / "appended"),
        "RRA_TEST_RUN": "1001",
        "RRA_TEST_MAKE": str(ROOT / "tests" / "records.py"),
    }
    out = doit(cfg, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert (tmp_path / "appended").exists()  # the hook ran: the stop time came mid-read
    assert "stop time" in (records / "1001" / "metadata.txt").read_text()
    db = open_ucondb("sqlite://%s" % (tmp_path / "work" / "ucondb.sqlite"), "test01", "configuration")
    assert b"DAQInterface_stop_time" not in db.get("1001")[0]  # archived as it was read

    out = doit(cfg)  # the record moved on since it was read: rebuilt, not "up to date"
    assert out.returncode == 0, out.stdout + out.stderr
    assert "fhiclize:1001" in executed(out) and "validate:1001" in executed(out)
    assert "fhiclize:1000" not in executed(out)
    assert b"DAQInterface_stop_time" in db.get("1001")[0]
    out = doit(cfg)
    assert executed(out) == [] and "2 of 2 runs archived" in out.stdout


def test_the_up_to_date_check_hashes_only_files_whose_stats_moved(tmp_path, monkeypatch):
    import os
    import time
    from rra import fhiclset

    run_dir = make_records(tmp_path / "records", 5, 1) / "5"
    old = time.time() - 100
    for p in run_dir.iterdir():
        os.utime(p, (old, old))
    fhicl, stats = tmp_path / "w" / "fhicl", str(tmp_path / "w" / fhiclset.STATS)
    fhiclset.build(5, run_dir, fhicl, None, stats)
    hashed = []
    md5 = fhiclset._md5
    monkeypatch.setattr(fhiclset, "_md5", lambda p: (hashed.append(os.path.basename(p)), md5(p))[1])
    assert fhiclset.record_unchanged(fhicl, run_dir, stats) and hashed == []
    os.utime(run_dir / "boot.txt")  # touched, same bytes
    assert fhiclset.record_unchanged(fhicl, run_dir, stats) and hashed == ["boot.txt"]
    assert fhiclset.record_unchanged(fhicl, run_dir, None)  # no cache: every file hashed
    (run_dir / "boot.txt").chmod(0o644)
    with open(run_dir / "boot.txt", "r+b") as f:  # same size, same mtime, other bytes
        f.seek(3)
        f.write(b"X")
    os.utime(run_dir / "boot.txt", (old, old))
    assert fhiclset.record_unchanged(fhicl, run_dir, stats)  # (stats cannot see it, as doit's)
    assert not fhiclset.record_unchanged(fhicl, run_dir, None)


# -- state that heals -------------------------------------------------------------------

import pytest  # noqa: E402


@pytest.mark.parametrize("damage", ["garbage", "torn"])
def test_a_damaged_doit_database_is_moved_aside_and_rebuilt_from_the_targets(tmp_path, damage):
    records = make_records(tmp_path / "records", 700, 3)
    cfg = write_config(tmp_path, records)
    assert doit(cfg).returncode == 0
    before = ucondb_versions(tmp_path)
    db = tmp_path / "work" / ".doit.db"
    data = db.read_bytes()
    if damage == "garbage":  # a power cut: nothing of it made it to disk
        db.write_bytes(b"\x00\xff garbage " * 500)
    else:  # the header survived, the pages behind it did not
        db.write_bytes(data[:100] + b"\xa5" * (len(data) - 100))
    out = doit(cfg, "full=1")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr
    warned = [line for line in out.stderr.splitlines() if "doit's state" in line]
    assert len(warned) == 1 and "moved to" in warned[0], out.stderr
    assert len(list(db.parent.glob(".doit.db.damaged-*"))) == 1
    assert ucondb_versions(tmp_path) == before  # adopted, not uploaded again
    out = doit(cfg, "full=1")
    assert out.returncode == 0 and executed(out) == [], out.stdout + out.stderr
    assert "doit's state" not in out.stderr
    assert (db.stat().st_mode & 0o007) == 0


# Injected into the doit subprocess: once fhiclize:R has run in a worker, another process
# takes an exclusive lock on .doit.db and holds it until the test releases it, so doit's
# parent fails to read its state mid-run ("database is locked") and stops its workers.
LOCKER = r'''
import os, subprocess, sys
import rra.fhiclset
_build = rra.fhiclset.build
HOLD = """
import os, sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
deadline = time.monotonic() + 300
while not os.path.exists(sys.argv[2]) and time.monotonic() < deadline:
    time.sleep(0.05)
"""

def build(run, *args, **kwargs):
    result = _build(run, *args, **kwargs)
    flag = os.environ["RRA_TEST_FLAG"]
    if str(run) == os.environ["RRA_TEST_RUN"] and not os.path.exists(flag):
        p = subprocess.Popen([sys.executable, "-c", HOLD, os.environ["RRA_TEST_DB"],
                              os.environ["RRA_TEST_RELEASE"]], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                             start_new_session=True)
        p.stdout.readline()  # held from here on
        with open(flag, "w") as f:
            f.write(str(p.pid))
    return result

rra.fhiclset.build = build
'''


def run_bounded(cmd, env, timeout=120):
    """(exit code, stdout, stderr); a hang is killed (whole group) and fails the test."""
    import os
    import signal

    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(ROOT), env=env, start_new_session=True
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail("hung for %d s:\n%s\n%s" % (timeout, out[-2000:], err[-2000:]))
    return proc.returncode, out, err


def test_an_error_on_doits_state_mid_run_still_exits_promptly_with_its_code(tmp_path):
    import os
    import time

    records = make_records(tmp_path / "records", 800, 6)
    cfg = write_config(tmp_path, records)
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(LOCKER)
    env = dict(
        os.environ,
        PYTHONPATH=with_hook(hook),
        RRA_TEST_FLAG=str(tmp_path / "locked"),
        RRA_TEST_RUN="800",
        RRA_TEST_DB=str(tmp_path / "work" / ".doit.db"),
        RRA_TEST_RELEASE=str(tmp_path / "release"),
    )
    env.pop("RRA_CONFIG", None)
    cmd = [sys.executable, "-m", "doit", "-f", str(ROOT / "dodo.py"), "-n", "2", "config=%s" % cfg]
    try:
        code, out, err = run_bounded(cmd, env)
    finally:
        (tmp_path / "release").touch()
    holder = int((tmp_path / "locked").read_text())
    assert code == 1, out[-2000:] + err[-2000:]
    assert "Traceback" not in out + err
    assert "database is locked" in err and len([line for line in err.splitlines() if "locked" in line]) == 1
    assert "still running" not in err  # the workers were stopped: no need for the watchdog
    for _ in range(600):  # the lock's holder sees the release file and exits
        if not os.path.exists("/proc/%d" % holder) or " Z " in open("/proc/%d/stat" % holder).read():
            break
        time.sleep(0.05)

    env.pop("PYTHONPATH")
    code, out, err = run_bounded(cmd, env)  # the next tick converges
    assert code == 0, out[-2000:] + err[-2000:]
    assert len(ucondb_versions(tmp_path)) == 6


# -- secrets -----------------------------------------------------------------------------

ODD_PASSWORD = "p@ss w/rd:9"  # a space, a slash, an @ and a colon


def secret_config(tmp_path, records, url):
    """A config whose UconDB URL holds the password as an operator types it (not encoded)."""
    path = write_config(tmp_path, records)
    text = path.read_text().replace(
        "sqlite://${app.work_dir}/ucondb.sqlite", '"%s"' % url.replace("://", "://writer:%s@" % ODD_PASSWORD, 1)
    )
    path.write_text(text)
    return path


def leaks(*texts):
    return [t for t in texts if ODD_PASSWORD in t or "w/rd" in t or "pa ss" in t]


def test_a_password_with_a_space_or_slash_is_used_and_never_shown_or_written(tmp_path):
    from testserver import TestServer

    records = make_records(tmp_path / "records", 900, 2)
    with TestServer(tmp_path / "server.sqlite", folders=["test01"], password=ODD_PASSWORD) as srv:
        cfg = secret_config(tmp_path, records, srv.url)
        cfg.chmod(0o644)
        out = doit(cfg)
        assert out.returncode == 0, out.stdout + out.stderr  # the credentials were parsed right
        assert not leaks(out.stdout, out.stderr)
        warned = [line for line in out.stderr.splitlines() if "holds a secret" in line]
        assert len(warned) == 1 and "chmod 600" in warned[0], out.stderr
        shown = rra("check-config", cfg)
        assert shown.returncode == 0 and "ucon_db.server_url: %s" % srv.url in shown.stdout
        assert not leaks(shown.stdout, shown.stderr)
        marker = json.loads((tmp_path / "work" / "runs" / "900" / "ucondb.json").read_text())
        assert marker["server_url"] == srv.url
    # The server is gone: the pre-flight's line, the summary and the log quote the URL.
    (tmp_path / "work" / "runs" / "901" / "validated.md5").unlink()
    cfg.chmod(0o600)
    out = doit(cfg, "validate:901")
    assert out.returncode == 1 and "cannot reach UconDB" in out.stderr, out.stdout + out.stderr
    assert "validate: 1 held back" in out.stdout, out.stdout
    assert not leaks(out.stdout, out.stderr)
    assert "holds a secret" not in out.stderr  # 0600: nothing to say
    for path in (tmp_path / "work").rglob("*"):
        if path.is_file():
            assert not leaks(path.read_bytes().decode("latin-1")), path
    for path in (tmp_path / "work", tmp_path / "work" / "archiver.log", tmp_path / "work" / ".doit.db"):
        assert path.stat().st_mode & 0o007 == 0, path  # not world-readable


def test_a_password_that_is_also_part_of_the_url_still_reaches_the_server(tmp_path):
    """A weak password can be a piece of the server URL (here its path, /app): it is masked
    wherever rra shows the URL, but the URL it requests stays whole (was: 'No connection
    adapters were found for htt***://', a traceback and exit 3 on every tick)."""
    from testserver import TestServer

    records = make_records(tmp_path / "records", 910, 1, "--lite")
    with TestServer(tmp_path / "server.sqlite", folders=["test01"], password="app") as srv:
        assert srv.url.endswith("/app")
        cfg = write_config(tmp_path, records, ucon=(srv.url, "writer", "app"))
        cfg.chmod(0o600)
        out = doit(cfg)
        assert out.returncode == 0, out.stdout + out.stderr
        assert "Traceback" not in out.stderr
        assert [m.key for m in srv_versions(srv)] == ["910"]


def srv_versions(srv):
    from rra.ucondb import open_ucondb

    return open_ucondb(srv.url, "test01", "configuration").versions()


def test_a_readable_archiver_env_holding_a_secret_is_warned_about_once(tmp_path, monkeypatch, caplog):
    from rra import config

    env = tmp_path / "archiver.env"
    env.write_text("UCONDB_PASSWORD=hunter2\n")
    env.chmod(0o640)
    monkeypatch.setattr(config, "ENV_FILE", env)
    monkeypatch.setattr(config, "_warned", set())
    records = make_records(tmp_path / "records", 1, 1)
    cfg = write_config(tmp_path, records)
    for _ in range(2):
        config.load(cfg, env={})
    warned = [r for r in caplog.records if "holds a secret" in r.getMessage()]
    assert len(warned) == 1 and "archiver.env" in warned[0].getMessage()
    assert "readable by its group" in warned[0].getMessage()
    env.chmod(0o600)
    monkeypatch.setattr(config, "_warned", set())
    caplog.clear()
    config.load(cfg, env={})
    assert not [r for r in caplog.records if "holds a secret" in r.getMessage()]


def test_a_run_beyond_the_file_or_byte_limit_fails_alone_with_the_limit_named(tmp_path):
    import os

    records = make_records(tmp_path / "records", 600, 4)
    for run in ("601", "602"):
        (records / run).chmod(0o755)
    for i in range(500):  # a run directory that something filled with files
        (records / "601" / ("junk%05d.dat" % i)).write_bytes(b"")
    (records / "602" / "dump.bin").write_bytes(os.urandom(300_000))
    cfg = write_config(tmp_path, records, "  max_files_per_run: 100\n  max_bytes_per_run: 200000\n")
    out = doit(cfg)
    assert out.returncode == 1, out.stdout + out.stderr
    bad = failed(out)
    assert sorted(bad) == ["fhiclize:601", "fhiclize:602"], out.stdout
    assert "more than 100 entries (app.max_files_per_run)" in bad["fhiclize:601"]
    assert "more than 200000 bytes (app.max_bytes_per_run)" in bad["fhiclize:602"]
    assert "validate:600" in executed(out) and "validate:603" in executed(out)
    assert "Traceback" not in out.stdout + out.stderr


def test_the_exit_watchdog_ends_a_process_whose_exit_would_hang():
    # A non-daemon thread that never ends would keep the interpreter from exiting, as the
    # blocked doit workers did; the watchdog armed after run_all exits with the code.
    code = (
        "import threading, time\nfrom rra import shutdown\nshutdown._exit_within(0.5, 7)\n"
        "threading.Thread(target=time.sleep, args=(600,)).start()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(ROOT), timeout=120)
    assert proc.returncode == 7 and "exiting now" in proc.stderr, proc.stderr
