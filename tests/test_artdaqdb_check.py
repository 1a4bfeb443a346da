"""`check` finds every index <-> document inconsistency; `--repair` rebuilds indexes and keeps a backup."""

import functools
import json
import subprocess

import pytest

from rra.artdaqdb import open_artdaqdb
from rra.artdaqdb.check import check, repair


@functools.lru_cache()
def dead_pid():
    """The pid of a process that has ended (what a killed writer leaves in its file names)."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


@pytest.fixture
def db(tmp_path):
    db = open_artdaqdb("filesystemdb://%s" % (tmp_path / "db"))
    for run in (1, 2, 3):
        db.store(run, "c", {"a.fcl": b"a: %d\n" % run, "b.fcl": b"# note\nb: [1, 2]\n"})
    assert check(db) == []
    return db


def edit_index(db, collection, change):
    path = db.path / collection / "index.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=0))


def doc_path(db, run, entity):
    entry = db.latest(run).entities[entity]
    return db.path / entry.collection / ("%s.json" % entry.oid)


def problems_after(db, damage):
    damage()
    return "\n".join(check(db))


def test_lost_index_entry(db):
    oid = doc_path(db, 2, "a").stem
    out = problems_after(db, lambda: edit_index(db, "RunHistory", lambda d: d["entities.name"]["a"].remove(oid)))
    assert "entities.name['a'] lacks %s" % oid in out
    assert "under configurations.name but not under entities.name" in out


def test_missing_and_unindexed_documents(db):
    gone = doc_path(db, 1, "b")
    extra = doc_path(db, 3, "b")
    stray = extra.parent / ("f" * 24 + ".json")

    def damage():
        stray.write_text(extra.read_text().replace(extra.stem, "f" * 24))
        gone.unlink()
        (extra.parent / "notes.txt").write_text("x")
        (db.path / (".rra-tmp.%d.abc" % dead_pid())).write_text("x")
        (db.path / ".rra-tmp.1.live").write_text("x")  # init's: a writer still at work

    out = problems_after(db, damage)
    assert "%s: indexed but the document is missing" % gone.name in out
    assert "%s: document not in the index (ouid)" % stray.name in out
    assert "notes.txt: stray file" in out and ".rra-tmp.%d.abc: leftover temp file" % dead_pid() in out
    assert ".rra-tmp.1.live" not in out


def test_index_shape(db):
    def damage():
        edit_index(db, "RunHistory", lambda d: (d.pop("aliases.active.name"), d["ouid"].reverse()))

    out = problems_after(db, damage)
    assert "key 'aliases.active.name' missing" in out and "ouid is not sorted and unique" in out


def test_bad_documents(db):
    bad_ts = doc_path(db, 1, "a")
    garbage = doc_path(db, 2, "a")

    def damage():
        text = bad_ts.read_text()
        bad_ts.write_text(text.replace('"created" : "', '"created" : "yesterday', 1))
        garbage.write_text("{ not json")

    out = problems_after(db, damage)
    assert "not a %Y-%m-%dT%H:%M:%S.mmm%z timestamp" in out
    assert "%s: unreadable document" % garbage.name in out


def test_unreadable_index(db):
    out = problems_after(db, lambda: (db.path / "SystemLayout/index.json").write_text('{"ouid" : [ "x"'))
    assert "SystemLayout/index.json: unreadable" in out


def test_repair_rebuilds_and_keeps_backups(db, tmp_path):
    garbage = doc_path(db, 2, "a")
    old_index = (db.path / "RunHistory/index.json").read_bytes()
    edit_index(db, "RunHistory", lambda d: d["ouid"].pop())
    garbage.write_text("{ not json")
    (db.path / ".rra-tmp.1.abc").write_text("x")
    assert check(db)
    actions = repair(db, tmp_path / "backup")
    assert any("rebuilt RunHistory/index.json" in a for a in actions)
    assert check(db) == []
    assert (tmp_path / "backup/RunHistory" / garbage.name).read_text() == "{ not json"
    assert (tmp_path / "backup/RunHistory/index.json").read_bytes() != old_index  # the damaged one, kept
    assert db.runs() == [1, 2, 3] and db.latest(2).entities.get("a") is None


def test_repair_reproduces_an_intact_index(db, tmp_path):
    before = {c: (db.path / c / "index.json").read_bytes() for c in ("RunHistory", "SystemLayout")}
    repair(db, tmp_path / "backup")
    for c, raw in before.items():
        assert json.loads((db.path / c / "index.json").read_bytes()) == json.loads(raw)
