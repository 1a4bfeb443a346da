"""`rra artdaqdb runs|export|check` as real processes: output, exit codes, one-line errors."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rra.artdaqdb import open_artdaqdb

DATA = Path(__file__).resolve().parent / "data"  # copied from ../shared: data/README.md
GOLDEN = DATA / "golden/artdaqdb/legacy_pipeline"
STANDALONE = "from rra.artdaqdb.cli import artdaqdb; artdaqdb(prog_name='rra artdaqdb')"


def cli(*args):
    return subprocess.run([sys.executable, "-c", STANDALONE, *map(str, args)], capture_output=True, text=True)


def assert_one_line_error(proc, *words):
    assert proc.returncode == 1, proc
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    for w in words:
        assert w in proc.stderr


def test_runs_of_the_cpp_archive():
    proc = cli("runs", "filesystemdb://%s" % (GOLDEN / "db"))
    assert proc.returncode == 0 and proc.stdout.split() == [str(r) for r in range(1000, 1006)]


def test_runs_of_an_empty_archive(tmp_path):
    proc = cli("runs", "filesystemdb://%s" % tmp_path)
    assert proc.returncode == 0 and proc.stdout == ""


def test_export(tmp_path):
    proc = cli("export", "filesystemdb://%s" % (GOLDEN / "db"), 1001, tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    names = sorted(Path(line).name for line in proc.stdout.split())
    assert "schema.fcl" in names and "hashes.fcl" in names and len(names) == 12
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == names


def test_check_and_repair(tmp_path):
    shutil.copytree(GOLDEN / "db", tmp_path / "db")
    for p in [tmp_path / "db", *(tmp_path / "db").rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    uri = "filesystemdb://%s" % (tmp_path / "db")
    ok = cli("check", uri)
    assert ok.returncode == 0 and ok.stdout == "" and "0 problems" in ok.stderr
    index = tmp_path / "db/RunHistory/index.json"
    data = json.loads(index.read_text())
    data["ouid"] = data["ouid"][1:]
    index.write_text(json.dumps(data))
    bad = cli("check", uri)
    assert bad.returncode == 1 and "document not in the index" in bad.stdout and "problem" in bad.stderr
    fixed = cli("check", uri, "--repair", "--backup-dir", tmp_path / "backup")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "repair: rebuilt RunHistory/index.json from 112 documents" in fixed.stdout
    assert (tmp_path / "backup/RunHistory/index.json").exists()
    assert cli("check", uri).returncode == 0
    assert open_artdaqdb(uri).runs() == list(range(1000, 1006))


def test_errors_are_one_line(tmp_path):
    assert_one_line_error(
        cli("export", "filesystemdb://%s" % (GOLDEN / "db"), 42, tmp_path / "x"), "run 42", "not archived"
    )
    assert_one_line_error(
        cli("runs", "mongodb://user:secret@db.example:27017/archive"),
        "mongodb://db.example:27017/archive",
        "conftoolp",
        "tools",
    )
    assert "secret" not in cli("runs", "mongodb://user:secret@db.example:27017/archive").stderr
    assert_one_line_error(cli("runs", "ftp://x"), "unsupported database URI")
    (tmp_path / "db/RunHistory").mkdir(parents=True)
    (tmp_path / "db/RunHistory/index.json").write_text("{ nope")
    (tmp_path / "db/SystemLayout").mkdir()
    (tmp_path / "db/SystemLayout/index.json").write_text("{ nope")
    assert_one_line_error(
        cli("runs", "filesystemdb://%s" % (tmp_path / "db")), "SystemLayout/index.json", "check --repair"
    )


def test_registered_in_rra_cli():
    proc = subprocess.run(
        [sys.executable, "-m", "rra.cli", "artdaqdb", "runs", "filesystemdb://%s" % (GOLDEN / "db")],
        capture_output=True,
        text=True,
    )
    if "No such command" in proc.stderr:
        pytest.skip("the artdaqdb group is not registered in rra.cli yet")
    assert proc.returncode == 0 and proc.stdout.split()[0] == "1000"
