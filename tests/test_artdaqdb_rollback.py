"""A store cut short (writer killed, disk full) is rolled back: no orphan documents, no stale index entries.

The writer is a real process killed with SIGKILL at a chosen step of the store (the hook
only picks the instant), or a real process whose writes fail at RLIMIT_FSIZE.
"""

import json
import signal
import subprocess
import sys

import pytest

from rra.artdaqdb import open_artdaqdb
from rra.artdaqdb.check import check, repair


def files(run):
    return {"a.fcl": b"a: %d\n" % run, "b.fcl": b"# note\nb: [1, 2]\n"}


# Stores runs 10 and 11 together, and dies at the step named in argv[2].
WRITER = r"""
import os, signal, sys
from rra.artdaqdb import open_artdaqdb
from rra.artdaqdb.filesystem import FilesystemDB
uri, step = sys.argv[1], sys.argv[2]
db = open_artdaqdb(uri)
db.store(1, 'c', {'a.fcl': b'a: 1\n'})  # an archive that has something already
write_index, write_files = FilesystemDB.write_index, FilesystemDB.write_files
def die():
    os.kill(os.getpid(), signal.SIGKILL)
def hooked_index(self, collection, idx, added=()):
    if step == 'before-layout' and collection == 'SystemLayout':
        die()
    write_index(self, collection, idx, added)
    if step == 'after-layout' and collection == 'SystemLayout':
        die()
def hooked_files(self, files):
    if step == 'after-documents' and any(str(p).endswith('.json') and '.rra-intent.' not in str(p)
                                         for p, _ in files):
        write_files(self, files)
        die()
    write_files(self, files)
FilesystemDB.write_index, FilesystemDB.write_files = hooked_index, hooked_files
db.store_many([(10, 'c', {'a.fcl': b'a: 10\n', 'b.fcl': b'b: 1\n'}),
               (11, 'c', {'a.fcl': b'a: 11\n', 'b.fcl': b'b: 1\n'})])
"""


def killed_writer(uri, step):
    proc = subprocess.run([sys.executable, "-c", WRITER, uri, step], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr


def documents(db):
    return sorted(p.name for c in db.collections() for p in (db.path / c).glob("*.json") if p.name != "index.json")


@pytest.mark.parametrize("step", ["after-documents", "before-layout"])
def test_a_killed_uncommitted_store_is_rolled_back_by_the_next_writer(tmp_path, step):
    uri = "filesystemdb://%s" % (tmp_path / "db")
    killed_writer(uri, step)
    reader = open_artdaqdb(uri)
    assert reader.runs() == [1]  # readers never saw the store
    problems = check(reader)
    assert len(problems) == 1 and "unfinished store of a writer that is gone" in problems[0], problems
    assert list(reader.path.glob(".rra-intent.*"))

    writer = open_artdaqdb(uri)
    swept = writer.sweep()
    assert len(swept) == 1 and swept[0].startswith("rolled back an unfinished store of 8 documents"), swept
    assert check(writer) == []
    assert not list(writer.path.glob(".rra-intent.*")) and not list(writer.path.glob(".rra-tmp.*"))
    # The indexes are what they were before the store, byte for byte as a fresh store would leave them.
    before = open_artdaqdb("filesystemdb://%s" % (tmp_path / "fresh"))
    before.store(1, "c", {"a.fcl": b"a: 1\n"})
    assert len(documents(writer)) == len(documents(before))
    for c in writer.collections():
        got = json.loads((writer.path / c / "index.json").read_text())
        want = json.loads((before.path / c / "index.json").read_text())
        assert {k: sorted(v) if isinstance(v, dict) else len(v) for k, v in got.items()} == {
            k: sorted(v) if isinstance(v, dict) else len(v) for k, v in want.items()
        }, c

    writer.store_many([(10, "c", files(10)), (11, "c", files(11))])
    assert writer.runs() == [1, 10, 11] and check(writer) == []
    assert writer.latest(10).version == "10/c"  # the first version: nothing of the dead store is counted


def test_a_store_killed_after_it_committed_is_kept(tmp_path):
    uri = "filesystemdb://%s" % (tmp_path / "db")
    killed_writer(uri, "after-layout")
    db = open_artdaqdb(uri)
    assert db.runs() == [1, 10, 11]
    assert db.sweep() == [] and check(db) == [] and not list(db.path.glob(".rra-intent.*"))
    assert db.runs() == [1, 10, 11] and db.latest(11).version == "11/c"


def test_repair_rolls_back_and_moves_an_unreadable_intent_aside(tmp_path):
    uri = "filesystemdb://%s" % (tmp_path / "db")
    killed_writer(uri, "before-layout")
    db = open_artdaqdb(uri)
    garbage = db.path / ".rra-intent.1.0123456789ab.other-host"  # another host's: never touched
    garbage.write_text("{")
    actions = repair(db, tmp_path / "backup")
    assert any(a.startswith("rolled back an unfinished store") for a in actions), actions
    assert garbage.exists() and check(db) == []


def test_a_live_writers_store_is_not_a_problem_nor_swept(tmp_path):
    db = open_artdaqdb("filesystemdb://%s" % (tmp_path / "db"))
    db.store(1, "c", {"a.fcl": b"a: 1\n"})
    entry = db.latest(1).entities["a"]
    # As if this process were between writing documents and indexes: its own intent.
    intent = db._begin({entry.collection: [entry.oid]}, [])
    assert check(db) == [] and db.sweep() == [] and intent.exists()


LIMITED = r"""
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
from rra.artdaqdb import ArtdaqDBError, open_artdaqdb
db = open_artdaqdb(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[2]), int(sys.argv[2])))
try:
    db.store_many([(r, 'c', {'a.fcl': b'a: %d\n' % r, 'b.fcl': b'b: [' + b'1, ' * 300 + b'2]\n'})
                   for r in range(100, 140)])
except ArtdaqDBError as e:
    print(e)
    sys.exit(1)
"""


def test_disk_full_during_the_index_writes_leaves_the_archive_as_it_was(tmp_path):
    uri = "filesystemdb://%s" % (tmp_path / "db")
    db = open_artdaqdb(uri)
    for run in range(1, 30):
        db.store(run, "c", {"a.fcl": b"a: %d\n" % run, "b.fcl": b"b: [" + b"1, " * 300 + b"2]\n"})
    sizes = {c: (db.path / c / "index.json").stat().st_size for c in db.collections()}
    before = documents(db)
    # Documents (~3 kB) fit; the biggest index, once 40 runs are added to it, does not.
    limit = max(sizes.values()) + 2000
    proc = subprocess.run([sys.executable, "-c", LIMITED, uri, str(limit)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "File too large" in proc.stdout, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    fresh = open_artdaqdb(uri)
    assert check(fresh) == [] and documents(fresh) == before
    assert not list(fresh.path.glob(".rra-intent.*")) and not list(fresh.path.glob(".rra-tmp.*"))
    assert fresh.runs() == list(range(1, 30))


def test_a_doit_tick_with_nothing_to_import_still_finishes_a_killed_store(tmp_path):
    from conftest import doit, make_records, write_config

    records = make_records(tmp_path / "records", 1000, 2)
    cfg = write_config(tmp_path, records)
    assert doit(cfg).returncode == 0
    uri = "filesystemdb://%s" % (tmp_path / "work" / "artdaqdb")
    killed_writer(uri, "before-layout")  # another writer of the same database died
    assert check(open_artdaqdb(uri)) != []

    tick = doit(cfg)
    assert tick.returncode == 0, tick.stdout + tick.stderr
    assert ".  " not in tick.stdout  # nothing to import: every run is sealed
    db = open_artdaqdb(uri)
    assert check(db) == [] and db.runs() == [1, 1000, 1001]
    assert "rolled back an unfinished store of 8 documents" in (tmp_path / "work" / "archiver.log").read_text()
