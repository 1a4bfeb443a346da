"""Run discovery: digit-named directories only, stat calls only, per-run errors, settle window."""

import os
import time

from rra.discovery import scan


def make(tmp_path, run, files=("metadata.txt",)):
    d = tmp_path / str(run)
    d.mkdir()
    for name in files:
        (d / name).write_text("x\n")
    return d


def test_only_digit_directories_are_runs(tmp_path):
    make(tmp_path, 12)
    make(tmp_path, 3)
    make(tmp_path, "12a")
    (tmp_path / "77").write_text("a file, not a run")
    (tmp_path / "88").symlink_to(tmp_path / "12")
    assert [r.run for r in scan(tmp_path)] == [3, 12]


def test_symlinked_file_is_the_runs_error_and_not_followed(tmp_path):
    outside = tmp_path.parent / ("secret-%d" % os.getpid())
    outside.write_text("s")
    try:
        d = make(tmp_path, 5)
        (d / "boot.txt").symlink_to(outside)
        make(tmp_path, 6)
        recs = {r.run: r for r in scan(tmp_path)}
        assert "boot.txt is a symbolic link" in recs[5].error and "not followed" in recs[5].error
        assert recs[6].error is None and recs[6].files == [tmp_path / "6" / "metadata.txt"]
    finally:
        outside.unlink()


def test_empty_run_directory_is_an_error(tmp_path):
    make(tmp_path, 9, files=())
    (rec,) = scan(tmp_path)
    assert "holds no files" in rec.error


def test_subdirectories_of_a_run_are_ignored(tmp_path):
    d = make(tmp_path, 9)
    (d / "sub").mkdir()
    (rec,) = scan(tmp_path)
    assert rec.error is None and [f.name for f in rec.files] == ["metadata.txt"]


def test_settle_window_leaves_fresh_records(tmp_path):
    old = make(tmp_path, 1)
    make(tmp_path, 2)
    past = time.time() - 100
    for path in (old, old / "metadata.txt"):
        os.utime(path, (past, past))
    assert [r.run for r in scan(tmp_path, settle_seconds=30)] == [1]
    assert [r.run for r in scan(tmp_path, settle_seconds=30, now=time.time() + 60)] == [1, 2]
    assert [r.run for r in scan(tmp_path, settle_seconds=0)] == [1, 2]


def test_exclude_most_recent_run(tmp_path):
    for run in (4, 10, 7):
        make(tmp_path, run)
    assert [r.run for r in scan(tmp_path, exclude_most_recent=True)] == [4, 7]
