"""tests/records.py, the run-record generator the tests and benches use: what a record holds."""

import re
import stat
import subprocess
import sys

from conftest import ROOT, make_records, stop_run

TOOL = ROOT / "tests" / "records.py"
FILES = {
    "boot.txt",
    "setup.txt",
    "settings.txt",
    "known_boardreaders_list.txt",
    "ranks.txt",
    "environment.txt",
    "metadata.txt",
}


def tree(d):
    return {p.relative_to(d): p.read_bytes() for p in d.rglob("*") if p.is_file()}


def test_records_as_daqinterface_writes_them(tmp_path):
    out = make_records(tmp_path / "a", 30, 4, "--running", 2, "--skip", 31)
    assert sorted(p.name for p in out.iterdir()) == ["30", "32", "33"]
    for run in (30, 32, 33):
        d = out / str(run)
        names = {p.name for p in d.iterdir()}
        assert FILES <= names and len(names - FILES) >= 5  # one .fcl per artdaq process
        assert all(not p.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) for p in d.iterdir())
        meta = (d / "metadata.txt").read_text()
        assert meta.startswith("Config name: ") and "\nDAQInterface start time: " in meta
        assert ("\nDAQInterface stop time: " in meta) == (run == 30)
    lite = make_records(tmp_path / "lite", 30, 1, "--lite")
    assert len([p for p in (lite / "30").iterdir() if p.suffix == ".fcl"]) == 3
    again = make_records(tmp_path / "b", 30, 4, "--running", 2, "--skip", 31)
    assert tree(out) == tree(again)  # deterministic
    stop_run(out, 33)  # the stop transition: two lines appended, as DAQInterface does
    assert re.search(
        r"\n\nDAQInterface stop time: \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d UTC 2024\n"
        r"\nTotal events: \d+\n\Z",
        (out / "33" / "metadata.txt").read_text(),
    )


def test_command_line_stop_of_a_missing_run_fails_with_one_line(tmp_path):
    proc = subprocess.run([sys.executable, str(TOOL), str(tmp_path), "--stop", "7"], capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "records.py: no run record at %s" % (tmp_path / "7")
    proc = subprocess.run(
        [sys.executable, str(TOOL), str(tmp_path / "r"), "--first", "5", "--count", "2"], capture_output=True, text=True
    )
    assert proc.returncode == 0 and sorted(p.name for p in (tmp_path / "r").iterdir()) == ["5", "6"]
