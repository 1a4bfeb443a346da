"""Nothing lost, nothing mixed up: stray run names, records that change mid-build, damaged
state, secrets. Real doit subprocesses on real files (issue 12)."""
import json
import shutil
import subprocess
import sys

from conftest import ROOT, doit, make_records, write_config
from rra.ucondb import open_ucondb


def executed(out):
    return sorted(l[3:].strip() for l in out.stdout.splitlines() if l.startswith(".  "))


def failed(out):
    return {l.split()[1].rstrip(":"): l for l in out.stdout.splitlines() if l.startswith("FAILED ")}


def ucondb_versions(tmp_path):
    db = open_ucondb("sqlite://%s" % (tmp_path / "work" / "ucondb.sqlite"), "test01", "configuration")
    return sorted((m.key, m.version_id) for m in db.versions())


def rra(*args):
    return subprocess.run([sys.executable, "-m", "rra.cli", *map(str, args)], capture_output=True,
                          text=True, cwd=str(ROOT))


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
    assert str(records / "1000") in bad["fhiclize:1000"] and str(records / "01000") in \
        bad["fhiclize:1000"]
    assert str(records / "000") in bad["fhiclize:0"]
    assert "\\u0661" in bad["fhiclize:1002"] or "\u0661" in bad["fhiclize:1002"]
    warnings = [l for l in out.stderr.splitlines() if "are not runs" in l]
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
SLOW_READER = r'''
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
'''


def test_a_stop_time_appended_while_fhiclize_reads_the_record_is_archived_next_tick(tmp_path):
    from conftest import MAKE_RECORDS
    records = make_records(tmp_path / "records", 1000, 2, "--running", 1)
    cfg = write_config(tmp_path, records)
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(SLOW_READER)
    env = {"PYTHONPATH": str(hook), "RRA_TEST_FLAG": str(tmp_path / "appended"),
           "RRA_TEST_RUN": "1001", "RRA_TEST_MAKE": str(MAKE_RECORDS)}
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
