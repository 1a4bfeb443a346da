"""What operators type: run_archiver.sh's flags, doit's own commands, rra, the config they find,
the lock, and the README's demo. Real subprocesses throughout."""

import json
import os
import shutil
import signal
import subprocess
import sys

import pytest

from conftest import ROOT, doit, make_records, python_m, stop_run, write_config

VENV_BIN = ROOT / ".venv" / "bin"
HOLD = """
import sys, time
from rra.lock import ArchiverLock
lock = ArchiverLock(sys.argv[1]).acquire("test holder")
print("held", flush=True)
time.sleep(120)
"""


def sh(*args, cwd=None, env=None):
    """run_archiver.sh as an operator or cron runs it (RRA_CONFIG unset)."""
    full_env = dict(os.environ)
    full_env.pop("RRA_CONFIG", None)
    full_env.update(env or {})
    return subprocess.run(
        [str(ROOT / "run_archiver.sh"), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=str(cwd or ROOT),
        env=full_env,
    )


def rra(*args, cwd=None):
    env = dict(os.environ)
    env.pop("RRA_CONFIG", None)
    return python_m("rra.cli", *args, cwd=cwd or ROOT, env=env)


def executed(proc):
    return [line[3:].strip() for line in proc.stdout.splitlines() if line.startswith(".  ")]


@pytest.fixture
def holder(tmp_path):
    """Another archiver: a process holding the work dir's lock (rra.lock, as doit takes it)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path / "work" / ".archiver.lock")], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "held"
    yield proc
    proc.kill()
    proc.wait()


# ---- app.batch_size smaller than the work -----------------------------------------------------


def test_batch_size_smaller_than_the_runs_to_do(tmp_path):
    """11 runs, batch_size 10: naming a run, --run and recover used to fail with an IndexError."""
    records = make_records(tmp_path / "records", 100, 11, "--lite")
    cfg = write_config(tmp_path, records, "  batch_size: 10\n")
    proc = doit(cfg, "validate:110")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "validate:110" in executed(proc) and "validate:100" not in executed(proc)
    proc = sh(cfg, "--run", 105)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert set(executed(proc)) == {s + ":105" for s in ("fhiclize", "artdaqdb", "blob", "ucondb", "validate")}
    for _ in range(2):
        assert doit(cfg).returncode == 0
    assert all((tmp_path / ("work/runs/%d/validated.md5" % r)).exists() for r in range(100, 111))
    # docs/migration.md step 3: the work dir is rebuilt from what the databases hold
    shutil.rmtree(tmp_path / "work" / "runs")
    (tmp_path / "work" / ".doit.db").unlink()
    proc = rra("--config", cfg, "recover", "--stage", "import")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "11 runs verified in artdaqDB: 100-110" in proc.stdout, proc.stdout
    proc = doit(cfg, "import")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for run in range(100, 110):  # nothing new was stored
        marker = json.loads((tmp_path / ("work/runs/%d/artdaqdb.json" % run)).read_text())
        assert marker["version"] == marker["configuration"], marker


# ---- which config ---------------------------------------------------------------------------


def test_without_a_config_argument_the_current_directorys_config_yaml_is_used(tmp_path):
    """A cron line `cd /data/archiver && run_archiver.sh --incremental` archives what its
    config.yaml says, never the bundled examples; with no config.yaml it fails loudly."""
    records = make_records(tmp_path / "records", 60, 2)
    write_config(tmp_path, records)
    proc = sh("--incremental", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "validate:60" in executed(proc) and not any(":100" in t for t in executed(proc))
    assert (tmp_path / "work" / "runs" / "61" / "validated.md5").exists()
    direct = subprocess.run(
        [sys.executable, "-m", "doit", "-f", str(ROOT / "dodo.py"), "list", "--all"],
        capture_output=True,
        text=True,
        cwd=str(tmp_path),
    )
    assert direct.returncode == 0 and "fhiclize" in direct.stdout, direct.stderr
    assert "every run on disk is archived" in rra("report", cwd=tmp_path).stdout
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for proc in (sh("--incremental", cwd=elsewhere), rra("report", cwd=elsewhere)):
        assert proc.returncode == 1
        assert "no config.yaml in %s and RRA_CONFIG unset" % elsewhere in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
    assert not (elsewhere / "work").exists()
    proc = sh("--dry-run", cwd=elsewhere, env={"RRA_CONFIG": str(tmp_path / "config.yaml")})
    assert proc.returncode == 0 and "dry run: 0 runs, 0 tasks" in proc.stdout, proc.stdout + proc.stderr


# ---- run_archiver.sh's flags --------------------------------------------------------------------


def test_run_archiver_sh_flags_combine_in_any_order(tmp_path):
    records = make_records(tmp_path / "records", 70, 3)
    cfg = write_config(tmp_path, records)
    proc = sh(cfg, "--quiet")  # legacy: failures and the summary only
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert executed(proc) == [] and "validate: 3 done" in proc.stdout
    proc = sh(cfg, "--run", 71, "--import-only")
    assert proc.returncode == 0 and executed(proc) == ["fhiclize:71", "artdaqdb:71"], proc.stdout
    for flags in (["--compare-state", "--report-status"], ["--report-status", "--compare-state"]):
        proc = sh(cfg, *flags)
        assert proc.returncode == 0 and "live: artdaqDB holds 3 runs" in proc.stdout, proc.stdout
    assert "live:" not in sh(cfg, "--report-status").stdout
    # a dry run of a recovery writes nothing
    shutil.rmtree(tmp_path / "work" / "runs")
    db = (tmp_path / "work" / ".doit.db").read_bytes()
    proc = sh(cfg, "--recover-import-state", "--dry-run")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 runs would be verified in artdaqDB" in proc.stdout, proc.stdout
    assert not (tmp_path / "work" / "runs").exists()
    assert (tmp_path / "work" / ".doit.db").read_bytes() == db
    proc = sh(cfg, "--dry-run", "--recover-import-state")
    assert proc.returncode == 0 and not (tmp_path / "work" / "runs").exists()


def test_help_and_version():
    proc = sh("--help")
    assert proc.returncode == 0 and proc.stdout.startswith("Usage: run_archiver.sh [CONFIG.yaml]")
    for flag in ("--import-only", "--dry-run", "--quiet", "--recover-import-state", "--run R"):
        assert flag in proc.stdout
    assert "--db-file" not in proc.stdout  # not doit's options
    proc = subprocess.run([str(VENV_BIN / "rra"), "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("rra ") and proc.stdout.split()[1][0].isdigit()


def test_dry_run_lists_every_task_that_then_runs(tmp_path):
    records = make_records(tmp_path / "records", 80, 3, "--running", 1)
    cfg = write_config(tmp_path, records)
    proc = sh(cfg, "--dry-run")
    assert proc.stdout.splitlines()[-1] == "dry run: 3 runs, 15 tasks would run (nothing was run)"
    assert not (tmp_path / "work" / "runs").exists()
    assert sh(cfg).returncode == 0
    stop_run(records, 82)
    dry = sh(cfg, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    listed = dry.stdout.splitlines()
    assert listed == [
        "fhiclize:82",
        "artdaqdb:82",
        "blob:82",
        "ucondb:82",
        "validate:82",
        "dry run: 1 run, 5 tasks would run (nothing was run)",
    ]
    assert sh(cfg, "--dry-run", "--import-only").stdout.splitlines() == [
        "fhiclize:82",
        "artdaqdb:82",
        "dry run: 1 run, 2 tasks would run (nothing was run)",
    ]
    proc = sh(cfg)
    assert proc.returncode == 0 and executed(proc) == listed[:-1], proc.stdout


# ---- doit's own commands -------------------------------------------------------------------


def test_doit_strace_takes_the_lock_dumpdb_reads_sqlite_clean_refuses(tmp_path, holder):
    records = make_records(tmp_path / "records", 90, 1)
    cfg = write_config(tmp_path, records)
    proc = doit(cfg, "strace", "fhiclize:90")
    assert proc.returncode == 1 and "another archiver holds" in proc.stderr, proc.stdout + proc.stderr
    assert not (tmp_path / "work" / "runs").exists()
    holder.kill()
    holder.wait()
    assert doit(cfg).returncode == 0
    proc = doit(cfg, "dumpdb")
    assert proc.returncode == 0, proc.stderr
    assert "doit state (sqlite3): %s" % (tmp_path / "work" / ".doit.db") in proc.stdout
    assert "validate:90 -> {" in proc.stdout
    proc = doit(cfg, "clean")
    assert proc.returncode == 1 and "doit clean removes nothing" in proc.stderr
    assert (tmp_path / "work" / "runs" / "90" / "validated.md5").exists()


# ---- the lock ---------------------------------------------------------------------------------


def test_removing_the_lock_file_does_not_let_a_second_archiver_in(tmp_path, holder):
    records = make_records(tmp_path / "records", 95, 1)
    cfg = write_config(tmp_path, records)
    lock = tmp_path / "work" / ".archiver.lock"
    assert lock.read_text() == "%d\n" % holder.pid  # kill $(cat .archiver.lock), as in the legacy
    lock.unlink()  # the legacy manuals' advice for a "stale lock"
    proc = doit(cfg)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "another archiver holds" in proc.stderr and "pid %d" % holder.pid in proc.stderr
    assert not (tmp_path / "work" / "runs").exists()
    note = json.loads((tmp_path / "work" / ".archiver.lock.holder").read_text())
    os.kill(note["pid"], signal.SIGTERM)
    holder.wait()
    proc = doit(cfg)  # the kernel released the dead holder's lock: never stale
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert lock.read_text() == ""  # released: no pid left for a later `kill $(cat ...)`


# ---- the README's demo ------------------------------------------------------------------------


def test_stop_time_demo_rebuilds_one_run_and_leaves_the_repository_clean(tmp_path):
    def status():
        return subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True, cwd=str(ROOT)).stdout

    before = status() if (ROOT / ".git").exists() else None
    proc = subprocess.run(
        [str(ROOT / "examples" / "stop_time_demo.sh"), str(tmp_path / "demo")], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    second = proc.stdout.split("== 3.")[1]
    assert "dry run: 1 run, 6 tasks would run" in second
    assert [line for line in second.splitlines() if line.startswith(".  ")] == [  # the template keeps the files too
        ".  %s:1004" % s for s in ("fhiclize", "artdaqdb", "blob", "ucondb", "validate", "files")
    ]
    assert "stored 1004/ascii_simulator_examplev1" in second and "replaced version" in second
    assert before is None or status() == before
