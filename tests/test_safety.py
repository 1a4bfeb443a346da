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
