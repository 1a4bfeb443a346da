"""The archive the C++ library wrote: rra reads it without writing, exports it byte for byte, extends it."""

import os
import re
import shutil
from pathlib import Path

import pytest

from rra.artdaqdb import open_artdaqdb
from rra.artdaqdb.check import check
from rra.fhiclize import fhiclize_run

DATA = Path(__file__).resolve().parent / "data"  # copied from ../shared: data/README.md
PIPELINE = DATA / "golden/artdaqdb/legacy_pipeline"
RECORDS = DATA / "golden/fhiclize/run_records"
RUNS = list(range(1000, 1006))
SECTION = re.compile(r"\n#####\n([^\n]+):\n#####\n")


def blob_files(run):
    """{file name: text} of a legacy blob, parsed here independently of rra.blob."""
    text = (PIPELINE / "blobs" / ("%d.blob" % run)).read_bytes().decode("utf-8", "surrogateescape")
    head = re.match(r"Start of Record\nRun Number: (\d+)\nPacked on ([^\n]*) UTC\n", text)
    end = text.rindex("\nEnd of Record\nRun Number: ")
    pieces = SECTION.split(text[head.end() : end])
    assert pieces[0] == "" and int(head.group(1)) == run
    return dict(zip(pieces[1::2], pieces[2::2])), head.group(2)


def snapshot(root):
    return sorted((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in Path(root).rglob("*"))


@pytest.fixture(scope="module")
def golden():
    return open_artdaqdb("filesystemdb://%s" % (PIPELINE / "db"))


@pytest.fixture
def copy(tmp_path):
    shutil.copytree(PIPELINE / "db", tmp_path / "db")
    for p in (tmp_path / "db").rglob("*"):
        os.chmod(p, 0o755 if p.is_dir() else 0o644)
    os.chmod(tmp_path / "db", 0o755)
    return open_artdaqdb("filesystemdb://%s/" % (tmp_path / "db"))


def test_lists_the_cpp_archive(golden):
    assert golden.runs() == RUNS


def test_latest_versions_of_the_cpp_archive(golden):
    state = golden.latest(1001)
    assert state.configuration == "1001/ascii_simulator_example" and state.version == state.configuration + "v1"
    assert state.entities["RunHistory2"].version == state.version
    assert state.entities["schema"].version == state.version and state.entities["schema"].collection == "SystemLayout"
    assert state.entities["metadata"].version == state.configuration
    assert state.md5["DataLogger1"] == "54a714cb6905e03f0c68342fac5ae827"  # from the legacy hashes entity
    assert state.md5["RunHistory2"] is None  # legacy updates recorded no md5
    assert golden.latest(999) is None


def test_stored_at_gives_the_blob_stamp(golden):
    for run in RUNS:
        stamp = golden.stored_at(run)
        assert stamp.startswith("2026-11-22T13:43:") and stamp.endswith("+0000")
        assert blob_files(run)[1] == "Nov 22 13:43"


@pytest.mark.parametrize("run", RUNS)
def test_export_reproduces_the_legacy_blob(golden, run, tmp_path):
    before = snapshot(PIPELINE / "db")
    paths = golden.export(run, tmp_path / "out")
    assert snapshot(PIPELINE / "db") == before  # reading never writes
    files, _ = blob_files(run)
    got = {p.name: p.read_bytes().decode("utf-8", "surrogateescape") for p in paths}
    assert sorted(got) == sorted(files)
    for name, text in files.items():
        assert got[name] == text, name


def test_check_finds_the_cpp_archive_consistent(golden):
    before = snapshot(PIPELINE / "db")
    assert check(golden) == []
    assert snapshot(PIPELINE / "db") == before


def test_store_over_the_cpp_archive(copy):
    """Archiving the same runs again adds only what the legacy API dropped, as one new version."""
    for run in RUNS:
        result = fhiclize_run(RECORDS / str(run))
        before = copy.latest(run)
        stored = copy.store(run, result.config_name.replace("/", "_"), result.files)
        new = set(stored.md5) - set(before.entities)
        changed = {e for e, h in before.md5.items() if h is not None and stored.md5.get(e) != h}
        assert {"environment", "ranks", "settings", "setup"} <= new  # the legacy API path dropped these
        assert stored.version == before.configuration + "v2"
        assert set(stored.stored) == new | changed | {"schema", "hashes"}
        assert "RunHistory2" not in stored.stored  # unknown md5, same document: not stored again
        again = copy.store(run, result.config_name.replace("/", "_"), result.files)
        assert again.version is None and again.stored_at == stored.stored_at
        assert copy.latest(run).md5 == stored.md5
    assert copy.runs() == RUNS
    assert check(copy) == []
