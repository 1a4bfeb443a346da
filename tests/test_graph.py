"""The doit graph end to end: real doit, real files, real subprocesses."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import AS_UNPRIVILEGED, ROOT, DATA, doit, make_records, stop_run, write_config

GOLDEN = DATA / "golden" / "fhiclize"


def executed(out):
    return sorted(line[3:].strip() for line in out.stdout.splitlines() if line.startswith(".  "))


def fhicl_dir(tmp_path, run):
    return tmp_path / "work" / "runs" / str(run) / "fhicl"


def test_golden_runs_byte_for_byte_through_doit(tmp_path):
    records = tmp_path / "records"
    shutil.copytree(GOLDEN / "run_records", records)
    cfg = write_config(tmp_path, records)
    out = doit(cfg, "fhiclize")
    assert out.returncode == 0, out.stdout + out.stderr
    for expected in sorted((GOLDEN / "expected").iterdir()):
        got = fhicl_dir(tmp_path, expected.name)
        for path in (expected / "archive").iterdir():
            assert (got / path.name).read_bytes() == path.read_bytes(), (expected.name, path.name)
        update = expected / "update" / "RunHistory2.fcl"
        assert (got / "RunHistory2.fcl").read_bytes() == update.read_bytes()
        for fcl in (records / expected.name).glob("*.fcl"):
            assert (got / fcl.name).read_bytes() == fcl.read_bytes()
        manifest = json.loads((got / "manifest.json").read_text())
        assert manifest["config_name"] == (expected / "config_name.txt").read_text().strip()
        assert sorted(manifest["files"]) == sorted(p.name for p in got.iterdir() if p.name != "manifest.json")


def test_incremental_noop_and_stop_time_rebuilds_only_that_run(tmp_path):
    records = make_records(tmp_path / "records", 2000, 6, "--running", 2)
    cfg = write_config(tmp_path, records)
    first = doit(cfg, "fhiclize")
    assert first.returncode == 0, first.stdout + first.stderr
    assert executed(first) == ["fhiclize:%d" % r for r in range(2000, 2006)]
    assert "fhiclize: 6 done" in first.stdout
    assert not (fhicl_dir(tmp_path, 2005) / "RunHistory2.fcl").read_text().count("stop_time")

    second = doit(cfg, "fhiclize")
    assert second.returncode == 0 and executed(second) == []
    assert "fhiclize: 6 up to date" in second.stdout

    stop_run(records, 2005)
    third = doit(cfg, "fhiclize")
    assert executed(third) == ["fhiclize:2005"], third.stdout
    assert "stop_time" in (fhicl_dir(tmp_path, 2005) / "RunHistory2.fcl").read_text()
    assert "stop_time" in (fhicl_dir(tmp_path, 2005) / "metadata.fcl").read_text()


def test_parallel_catch_up_stores_each_run_once_in_interleaved_batches(tmp_path):
    """doit -n 4 starts neighbouring runs' import tasks together. Batches are every k-th
    run, so those tasks store different batches; a task whose batch is being stored waits
    for it and then finds its run done, instead of looking all its partners up again."""
    records = make_records(tmp_path / "records", 1, 120, "--lite")
    cfg = write_config(tmp_path, records)
    result = doit(cfg, "-n", "4")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    log = (tmp_path / "work" / "archiver.log").read_text()
    for run in range(1, 121):
        stored = log.count("[run %d] [artdaqdb] stored %d/" % (run, run))
        along = log.count("[run %d] [artdaqdb] stored as %d/" % (run, run))
        assert stored == 1 and stored + along <= 2, (run, stored, along)
    assert "nothing stored" not in log
    # One SystemLayout index write per store; its documents say which runs it stored.
    journal = tmp_path / "work" / "artdaqdb" / ".rra-journal.SystemLayout"
    stores = [sorted(int(d["runs"][0]) for d in json.loads(line)["docs"]) for line in journal.read_text().splitlines()]
    assert sorted(r for runs in stores for r in runs) == list(range(1, 121))  # each run once
    assert len(stores) < 20 and any(runs[1] - runs[0] > 1 for runs in stores if len(runs) > 1), stores


def test_bad_run_fails_alone_with_a_clear_line(tmp_path):
    records = make_records(tmp_path / "records", 3000, 3)
    bad = records / "3001" / "boot.txt"
    os.chmod(bad.parent, 0o755)
    bad.unlink()
    bad.symlink_to("/etc/passwd")
    (records / "30x1").mkdir()
    cfg = write_config(tmp_path, records)
    out = doit(cfg, "fhiclize")
    assert out.returncode == 1
    fails = [line for line in out.stdout.splitlines() if line.startswith("FAILED")]
    assert len(fails) == 1 and "fhiclize:3001" in fails[0] and "boot.txt" in fails[0]
    assert "Traceback" not in out.stdout + out.stderr
    assert (fhicl_dir(tmp_path, 3000) / "manifest.json").exists()
    assert (fhicl_dir(tmp_path, 3002) / "manifest.json").exists()
    assert not fhicl_dir(tmp_path, 3001).exists()


def test_unreadable_file_names_run_and_file(tmp_path):
    """Runs doit without root's override capabilities so permissions really apply."""
    records = make_records(tmp_path / "records", 4000, 2)
    os.chmod(records / "4000" / "settings.txt", 0o000)
    cfg = write_config(tmp_path, records)
    out = doit(cfg, "fhiclize", prefix=AS_UNPRIVILEGED)
    assert out.returncode == 1, out.stdout + out.stderr
    fails = [line for line in out.stdout.splitlines() if line.startswith("FAILED")]
    assert len(fails) == 1 and "fhiclize:4000" in fails[0], out.stdout
    assert "settings.txt" in fails[0] and "permission denied" in fails[0]
    assert (fhicl_dir(tmp_path, 4001) / "manifest.json").exists()
    assert not fhicl_dir(tmp_path, 4000).exists()


def test_settle_window_through_doit(tmp_path):
    records = make_records(tmp_path / "records", 5000, 2)
    past = time.time() - 3600
    for path in [records / "5000", *(records / "5000").iterdir()]:
        os.utime(path, (past, past))
    cfg = write_config(tmp_path, records, "  settle_seconds: 600\n")
    out = doit(cfg, "fhiclize")
    assert out.returncode == 0 and executed(out) == ["fhiclize:5000"]


KILLER = r"""
import builtins, os, signal, sys
kind, kill_at = sys.argv[1].split(":")
count = [0]
def counting(real):
    def call(*args, **kwargs):
        if real is not builtins.open or "w" in (args[1] if len(args) > 1 else kwargs.get("mode", "r")):
            count[0] += 1
            if count[0] == int(kill_at):
                os.kill(os.getpid(), signal.SIGKILL)
        return real(*args, **kwargs)
    return call
if kind == "open":
    builtins.open = counting(builtins.open)
else:
    os.rename = counting(os.rename)
from doit.doit_cmd import DoitMain
from doit.cmd_base import DodoTaskLoader
sys.argv = ["doit", "-f", sys.argv[2], "-a", "fhiclize", "config=" + sys.argv[3]]
sys.exit(DoitMain(DodoTaskLoader()).run(sys.argv[1:]))
"""


@pytest.mark.parametrize(
    "kill_at,prebuilt",
    [
        ("open:1", False),
        ("open:6", False),
        ("open:14", True),
        ("rename:1", False),
        ("rename:1", True),
        ("rename:2", True),
    ],
)
def test_killed_mid_write_leaves_nothing_that_looks_built(tmp_path, kill_at, prebuilt):
    records = make_records(tmp_path / "records", 6000, 1)
    cfg = write_config(tmp_path, records)
    if prebuilt:  # a rebuild: the old set is moved away, then the new one moved in
        assert doit(cfg, "fhiclize").returncode == 0
    proc = subprocess.run(
        [sys.executable, "-c", KILLER, str(kill_at), str(ROOT / "dodo.py"), str(cfg)],
        capture_output=True,
        text=True,
        cwd=str(ROOT),
    )
    assert proc.returncode == -signal.SIGKILL
    target = fhicl_dir(tmp_path, 6000)
    if (target / "manifest.json").exists():  # a complete set was swapped in before the kill
        manifest = json.loads((target / "manifest.json").read_text())
        assert sorted(manifest["files"]) == sorted(p.name for p in target.iterdir() if p.name != "manifest.json")
    survived = (target / "manifest.json").exists()
    out = doit(cfg, "fhiclize")
    assert out.returncode == 0
    assert executed(out) == ([] if survived else ["fhiclize:6000"])
    ref = tmp_path / "ref"
    assert (
        subprocess.run(
            [sys.executable, "-m", "rra.cli", "fhiclize", str(records / "6000"), str(ref)], capture_output=True
        ).returncode
        == 0
    )
    for path in ref.iterdir():
        assert (target / path.name).read_bytes() == path.read_bytes()
    if not survived:  # a rebuild also sweeps what the killed write left beside the set
        assert not [p for p in target.parent.iterdir() if p.name.endswith((".tmp", ".old"))]
