"""Sealed runs cost no tasks; any change to the record, or naming the run, brings it back."""

import os
import subprocess

from conftest import ROOT, doit, make_records, stop_run, write_config


def listed(cfg, *args):
    out = doit(cfg, "list", "--all", *args)
    assert out.returncode == 0, out.stderr
    return sorted(line.split()[0] for line in out.stdout.splitlines() if ":" in line.split()[0])


def executed(out):
    return sorted(line[3:].strip() for line in out.stdout.splitlines() if line.startswith(".  "))


def test_sealed_runs_load_no_tasks_until_their_record_changes(tmp_path):
    records = make_records(tmp_path / "records", 10, 3, "--running", 1)
    cfg = write_config(tmp_path, records)
    assert doit(cfg).returncode == 0
    assert listed(cfg) == []
    assert (
        "now: 3 of 3 runs archived and validated (3 sealed before, 0 validated by this invocation)" in doit(cfg).stdout
    )
    assert len(listed(cfg, "full=1")) == 15

    stop_run(records, 12)  # metadata.txt appended: the run comes back
    assert listed(cfg) == ["%s:12" % s for s in ("artdaqdb", "blob", "fhiclize", "ucondb", "validate")]
    assert "validate:12" in executed(doit(cfg))
    assert listed(cfg) == []


def test_a_touched_record_is_checked_then_sealed_again(tmp_path):
    records = make_records(tmp_path / "records", 20, 2)
    cfg = write_config(tmp_path, records)
    assert doit(cfg).returncode == 0
    os.utime(records / "20")  # same content, new mtime
    assert len(listed(cfg)) == 5
    out = doit(cfg)
    assert out.returncode == 0 and executed(out) == []
    assert listed(cfg) == []


def test_a_sealed_run_named_on_the_command_line_can_be_forced(tmp_path):
    records = make_records(tmp_path / "records", 30, 2)
    cfg = write_config(tmp_path, records)
    assert doit(cfg).returncode == 0
    assert doit(cfg, "forget", "validate:30").returncode == 0
    out = doit(cfg, "validate:30")
    assert out.returncode == 0 and executed(out) == ["validate:30"]
    out = doit(cfg, "-a", "validate:31")
    assert out.returncode == 0 and len(executed(out)) == 5


def test_batch_size_takes_the_oldest_runs_first(tmp_path):
    records = make_records(tmp_path / "records", 40, 5)
    cfg = write_config(tmp_path, records, "  batch_size: 2\n")
    first = executed(doit(cfg))
    assert [t for t in first if t.startswith("validate")] == ["validate:40", "validate:41"]
    second = executed(doit(cfg))
    assert [t for t in second if t.startswith("validate")] == ["validate:42", "validate:43"]


def sh(*args):
    return subprocess.run([str(ROOT / "run_archiver.sh"), *map(str, args)], capture_output=True, text=True)


def test_run_archiver_sh_legacy_flags(tmp_path):
    records = make_records(tmp_path / "records", 50, 3)
    cfg = write_config(tmp_path, records)
    out = sh(cfg, "--incremental", "--import-only")
    assert out.returncode == 0, out.stdout + out.stderr
    assert {t.split(":")[0] for t in executed(out)} == {"fhiclize", "artdaqdb"}
    dry = sh(cfg, "--dry-run")
    assert dry.returncode == 0
    assert dry.stdout.splitlines() == [
        "%s:%d" % (s, r) for r in (50, 51, 52) for s in ("blob", "ucondb", "validate")
    ] + ["dry run: 3 runs, 9 tasks would run (nothing was run)"]
    out = sh(cfg, "--migrate-only", "-n", "2")
    assert out.returncode == 0, out.stdout + out.stderr
    assert {t.split(":")[0] for t in executed(out)} == {"blob", "ucondb", "validate"}
    out = sh(cfg, "--report-status")
    assert out.returncode == 0 and "every run on disk is archived" in out.stdout
    out = sh(cfg, "--run", 51)
    assert out.returncode == 0 and "validate:51" in executed(out) and "validate:50" not in executed(out)
    assert sh(cfg, "--run", "x").returncode == 1
    out = sh(cfg, "--compare-state")
    assert out.returncode == 0 and "live: artdaqDB holds 3 runs" in out.stdout
