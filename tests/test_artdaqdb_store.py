"""Storing run records natively: first version, no-op, updates when the stop time arrives, errors."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rra.artdaqdb.runs import next_number
from rra.artdaqdb import ArtdaqDBError, fhicl_md5s, open_artdaqdb, parse_timestamp
from rra.artdaqdb.check import check
from rra.artdaqdb.filesystem import FilesystemDB
from rra.fhicl import cppjson, to_document, to_fhicl
from rra.fhiclize import fhiclize_run

from conftest import make_records, stop_run


def fhicl_set(records, run):
    result = fhiclize_run(Path(records) / str(run))
    return result.config_name.replace("/", "_"), result.files


@pytest.fixture
def db(tmp_path):
    return open_artdaqdb("filesystemdb://%s" % (tmp_path / "db"))


@pytest.fixture
def records(tmp_path):
    return make_records(tmp_path / "records", 2000, 2, "--running", "1")


def test_first_store_then_nothing_then_the_stop_time(db, records, tmp_path):
    config, files = fhicl_set(records, 2001)
    first = db.store(2001, config, files)
    assert first.uri == db.safe_uri and first.configuration == "2001/%s" % config
    assert first.version == first.configuration and first.changed
    assert first.md5 == fhicl_md5s(files) and "schema" not in first.md5
    assert set(first.stored) == set(first.md5) | {"schema", "hashes"}
    parse_timestamp(first.stored_at)
    assert db.runs() == [2001] and db.stored_at(2001) == first.stored_at

    again = db.store(2001, config, files)
    assert again.version is None and again.stored == () and again.stored_at == first.stored_at
    assert again.md5 == first.md5

    stop_run(records, 2001)
    config2, files2 = fhicl_set(records, 2001)
    changed = {n[:-4] for n in files2 if files2[n] != files.get(n)}
    assert "metadata" in changed and "RunHistory2" in changed
    update = db.store(2001, config2, files2)
    assert update.version == first.configuration + "v1"
    assert set(update.stored) == changed | {"schema", "hashes"}
    assert update.stored_at >= first.stored_at and db.stored_at(2001) == update.stored_at

    state = db.latest(2001)
    assert state.version == update.version and state.md5 == update.md5 == fhicl_md5s(files2)
    assert {e for e, x in state.entities.items() if x.version == update.version} == set(update.stored)
    assert db.store(2001, config2, files2).version is None
    assert check(db) == []

    out = db.export(2001, tmp_path / "export")
    assert sorted(p.name for p in out) == sorted(list(files2) + ["schema.fcl", "hashes.fcl"])
    for name, data in files2.items():
        assert (tmp_path / "export" / name).read_text() == to_fhicl(to_document(data.decode(), name[:-4]))
    hashes = (tmp_path / "export/hashes.fcl").read_text()
    assert "configuration: " in hashes and "metadata: %s" % update.md5["metadata"] in hashes


def test_documents_are_the_cpp_records(db, records):
    config, files = fhicl_set(records, 2000)
    result = db.store(2000, config, files)
    state = db.latest(2000)
    for entity, entry in state.entities.items():
        path = db.path / entry.collection / ("%s.json" % entry.oid)
        doc = cppjson.loads(path.read_bytes())
        assert doc.keys() == [
            "document",
            "comments",
            "origin",
            "version",
            "entities",
            "configurations",
            "changelog",
            "bookkeeping",
            "_id",
            "collection",
            "aliases",
            "runs",
            "attachments",
            "configtype",
        ]
        assert doc["version"] == result.version and doc["runs"][0]["name"] == "2000"
        assert doc["origin"]["timestamp"] == doc["bookkeeping"]["created"] == result.stored_at
        assert [u["event"] for u in doc["bookkeeping"]["updates"]] == [
            "addConfiguration",
            "setVersion",
            "setCollection",
            "addEntity",
            "addRun",
        ]
        assert doc["collection"] == entry.collection == ("SystemLayout" if entity == "schema" else "RunHistory")
        assert doc["comments"]
    meta = list((db.path / "SystemMetadata").glob("*.json"))
    assert sorted(p.name == "index.json" for p in meta) == [False, True]
    assert (db.path / "SystemMetadata/index.json").read_text().startswith('{"ouid":[], "version":{}')


def test_index_written_once_per_collection_after_its_documents(db, records, monkeypatch):
    events = []
    write_files, write_index = FilesystemDB.write_files, FilesystemDB.write_index
    monkeypatch.setattr(
        FilesystemDB,
        "write_files",
        lambda self, files: (events.extend(("file", Path(p)) for p, _ in files), write_files(self, files))[1],
    )
    monkeypatch.setattr(
        FilesystemDB,
        "write_index",
        lambda self, c, idx, added=(): (events.append(("index", c)), write_index(self, c, idx, added))[1],
    )
    config, files = fhicl_set(records, 2000)
    db.store(2000, config, files)
    indexes = [c for kind, c in events if kind == "index"]
    assert indexes == ["RunHistory", "SystemLayout"]  # SystemLayout (the schema) commits the version
    for i, (kind, what) in enumerate(events):
        if kind == "file" and what.parent.name in indexes and what.name != "index.json":
            assert i < events.index(("index", what.parent.name))


def test_store_accepts_paths_and_directories(db, records):
    d = records / "2000"
    by_list = db.store(2000, "a", sorted(d.glob("*.fcl")))
    assert by_list.version == "2000/a"
    assert db.store(2000, "a", d).version is None
    assert db.store(2000, "a", {p.name: p.read_text() for p in d.glob("*.fcl")}).version is None


def test_every_file_is_stored_and_rules_come_from_fcl_conf_dir(tmp_path):
    conf = tmp_path / "conf"
    conf.mkdir()
    schema = (Path(__file__).resolve().parents[1] / "rra/artdaqdb/schema.fcl").read_text()
    (conf / "schema.fcl").write_text(
        schema.replace(
            "run_history: [{", "run_history: [{\ncollection: Custom\npattern: '(.*/)(special)(\\.fcl$)'\n}, {", 1
        )
    )
    db = open_artdaqdb("filesystemdb://%s" % (tmp_path / "db"), fcl_conf_dir=conf)
    db.store(5, "standard", {"special.fcl": b"a: 1\n", "odd_name.fcl": b"b: 2\n", "metadata.fcl": b"c: 3\n"})
    state = db.latest(5)
    assert {e: x.collection for e, x in state.entities.items()} == {
        "special": "Custom",
        "odd_name": "RunHistory",
        "metadata": "RunHistory",
        "hashes": "RunHistory",
        "schema": "SystemLayout",
    }
    assert (tmp_path / "out").mkdir() or db.export(5, tmp_path / "out")
    assert (tmp_path / "out/schema.fcl").read_text() == to_fhicl(to_document((conf / "schema.fcl").read_text()))
    assert check(db) == []


def test_versions_sort_as_text_and_as_numbers(db):
    """The C++ readers take the greatest version as text: after Cv9 comes Cv90, so they agree with rra."""
    names = []
    for n in range(12):
        result = db.store(9, "c", {"a.fcl": ("a: %d\n" % n).encode(), "b.fcl": b"b: 1\n"})
        names.append(result.version)
        assert set(result.stored) == ({"a", "b", "schema", "hashes"} if n == 0 else {"a", "schema", "hashes"})
    assert names == ["9/c"] + ["9/cv%d" % n for n in range(1, 10)] + ["9/cv90", "9/cv91"]
    assert names == sorted(names)
    state = db.latest(9)
    assert state.version == "9/cv91" and state.entities["a"].version == "9/cv91"
    assert state.entities["b"].version == "9/c"
    assert db.export(9, db.path.parent / "out") and (db.path.parent / "out/a.fcl").read_text() == "\na: 11 \n"
    numbers = (0, 1, 8, 9, 10, 89, 98, 99, 990, 999)
    assert [next_number(n) for n in numbers] == [1, 2, 9, 90, 11, 90, 99, 990, 991, 9990]


def test_a_v10_written_after_v9_is_read_as_the_cpp_reads_it(db, monkeypatch):
    """An archive whose writer numbered Cv10 after Cv9: Cv9 is what the C++ exports, and the next is Cv90."""
    for n in range(10):
        db.store(4, "c", {"a.fcl": ("a: %d\n" % n).encode()})
    assert db.latest(4).version == "4/cv9"  # rra names the next one 4/cv90; an older writer named it 4/cv10
    from rra.artdaqdb import filesystem

    orig = filesystem.build
    with monkeypatch.context() as m:
        m.setattr(
            filesystem, "build", lambda conv, e, c, v, cfg, r, ts: orig(conv, e, c, v.replace("v90", "v10"), cfg, r, ts)
        )
        db.store(4, "c", {"a.fcl": b"a: 10\n"})
    assert db.latest(4).version == "4/cv9" and db.exported(4)["a.fcl"] == "\na: 9 \n"
    assert db.store(4, "c", {"a.fcl": b"a: 11\n"}).version == "4/cv90"
    assert db.exported(4)["a.fcl"] == "\na: 11 \n"


def test_errors_name_run_file_and_leave_nothing(db, tmp_path):
    with pytest.raises(ArtdaqDBError) as e:
        db.store(7, "c", {"good.fcl": b"a: 1\n", "bad.fcl": b"a: {\n"})
    assert e.value.run == 7 and e.value.file == "bad.fcl" and "filesystemdb://" in str(e.value)
    assert db.runs() == [] and not (db.path / "RunHistory").exists()
    db.store(7, "c", {"good.fcl": b"a: 1\n"})
    with pytest.raises(ArtdaqDBError, match="archived as configuration 7/c, not 7/other"):
        db.store(7, "other", {"good.fcl": b"a: 2\n"})
    with pytest.raises(ArtdaqDBError, match="hashes"):
        db.store(8, "c", {"hashes.fcl": b"a: 1\n"})
    with pytest.raises(ArtdaqDBError, match="not archived"):
        db.export(8, tmp_path / "x")
    bad_conf = open_artdaqdb("filesystemdb://%s" % (tmp_path / "db2"), fcl_conf_dir=tmp_path / "nowhere")
    with pytest.raises(ArtdaqDBError, match="schema.fcl"):
        bad_conf.store(1, "c", {"a.fcl": b"a: 1\n"})


def test_reads_of_a_missing_database_write_nothing(tmp_path):
    db = open_artdaqdb("filesystemdb://%s" % (tmp_path / "none"))
    assert db.runs() == [] and db.latest(1) is None and db.stored_at(1) is None
    assert not (tmp_path / "none").exists()


def test_interrupted_store_is_completed_by_the_retry(db, monkeypatch):
    """A crash after RunHistory but before SystemLayout: the retry rewrites the same oids, no duplicates."""
    files = {"a.fcl": b"a: 1\n", "b.fcl": b"b: 2\n"}
    real = FilesystemDB.write_index

    def crash(self, collection, idx, added=(), removed=False):
        if collection == "SystemLayout" and not removed:
            raise OSError(28, "No space left on device")
        return real(self, collection, idx, added, removed)

    monkeypatch.setattr(FilesystemDB, "write_index", crash)
    with pytest.raises(ArtdaqDBError, match="run 3: .*No space left on device"):
        db.store(3, "c", files)
    assert db.runs() == [] and db.latest(3) is None
    # rolled back by the writer itself: no intent left, no stale entry, no orphan document
    assert db.intents() == {} and check(db) == []
    assert json.loads((db.path / "RunHistory/index.json").read_text())["ouid"] == []
    monkeypatch.setattr(FilesystemDB, "write_index", real)
    assert db.store(3, "c", files).version == "3/c"
    idx = json.loads((db.path / "RunHistory/index.json").read_text())
    assert len(idx["ouid"]) == 3 and db.runs() == [3] and check(db) == []


def test_a_rollback_that_fails_for_a_bug_fails_loudly(db, monkeypatch):
    """Only a rollback stopped by the disk (OSError) or a lock is left for the next sweep."""

    def crash(self, collection, idx, added=(), removed=False):
        raise OSError(28, "No space left on device")

    def broken(self, intent):
        raise TypeError("a bug in the rollback")

    monkeypatch.setattr(FilesystemDB, "write_index", crash)
    monkeypatch.setattr(FilesystemDB, "_roll_back", broken)
    with pytest.raises(TypeError, match="a bug in the rollback"):
        db.store(3, "c", {"a.fcl": b"a: 1\n"})


def test_other_processes_writes_are_replayed_not_reparsed(db, monkeypatch):
    """Another process's index write reaches this process's cache through the journal."""
    from rra.artdaqdb import index

    db.store(1, "c", {"a.fcl": b"a: 1\n"})
    script = (
        "from rra.artdaqdb import open_artdaqdb; db = open_artdaqdb(%r)\n"
        "for r in (2, 3): db.store(r, 'c', {'a.fcl': b'a: %%d' %% r})" % db.uri
    )
    subprocess.run([sys.executable, "-c", script], check=True)
    parsed = []
    real = index.Index.parse
    monkeypatch.setattr(
        index.Index, "parse", classmethod(lambda cls, raw, path="": parsed.append(path) or real(raw, path))
    )
    assert db.runs() == [1, 2, 3] and db.store(4, "c", {"a.fcl": b"a: 4\n"}).version == "4/c"
    assert parsed == []
    for c in ("RunHistory", "SystemLayout"):
        raw = (db.path / c / "index.json").read_bytes()
        assert real(raw).dumps() == raw and db.index(c).dumps() == raw
    (db.path / ".rra-journal.RunHistory").write_bytes(b"garbage\n")  # a broken chain: parse again
    subprocess.run([sys.executable, "-c", script.replace("(2, 3)", "(5,)")], check=True)
    assert db.runs() == [1, 2, 3, 4, 5] and db.latest(5).version == "5/c"
    assert check(db) == []


def test_store_many_shares_one_index_write(db, monkeypatch):
    db.store(1, "c", {"a.fcl": b"a: 1\n"})
    writes = []
    real = FilesystemDB.write_index
    monkeypatch.setattr(
        FilesystemDB, "write_index", lambda self, c, idx, added=(): (writes.append(c), real(self, c, idx, added))[1]
    )
    results = db.store_many(
        [
            (1, "c", {"a.fcl": b"a: 1\n"}),
            (2, "c", {"a.fcl": b"a: 2\n"}),
            (3, "d", {"a.fcl": b"a: 3\n", "b.fcl": b"b: 3\n"}),
        ]
    )
    assert [r.version for r in results] == [None, "2/c", "3/d"]
    assert writes == ["RunHistory", "SystemLayout"]
    assert db.runs() == [1, 2, 3] and db.stored_at(3) == results[2].stored_at
    assert results[0].stored_at == db.stored_at(1) and results[0].stored == ()
    with pytest.raises(ArtdaqDBError, match="twice"):
        db.store_many([(4, "c", {"a.fcl": b"a: 1\n"}), (4, "c", {"a.fcl": b"a: 1\n"})])
    assert check(db) == []


def test_a_stop_cuts_a_store_batch_short_and_leaves_it_whole(db):
    """Ctrl-C during a 200-run batch: the runs made so far are stored, the rest left for later."""
    runs = [(r, "c", {"a.fcl": b"a: %d\n" % r, "b.fcl": b"b: [1, 2]\n"}) for r in range(1, 7)]
    asked = []

    def stop():
        asked.append(1)
        return len(asked) >= 2  # the signal arrives while the second run is made

    results = db.store_many(runs, stop=stop)
    assert [r.run for r in results] == [1, 2]
    assert db.runs() == [1, 2] and check(db) == []
    rest = db.store_many(runs[2:])
    assert [r.run for r in rest] == [3, 4, 5, 6] and db.runs() == [1, 2, 3, 4, 5, 6]
    assert check(db) == []


def test_files_met_again_are_stored_and_exported_as_the_first_time(tmp_path, records):
    """The per-process caches (a file converted once, a document exported once) change no byte."""
    import re

    stamp = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4}")
    config, files = fhicl_set(records, 2000)
    again = dict(files, **{"metadata.fcl": files["metadata.fcl"] + b"\nextra: 1\n"})
    warm = open_artdaqdb("filesystemdb://%s" % (tmp_path / "warm"))
    warm.store(1, config, files)
    assert warm.exported(1)
    warm.store(2, config, again)
    cold = open_artdaqdb("filesystemdb://%s" % (tmp_path / "cold"))
    cold.store(2, config, again)
    for entity, entry in cold.latest(2).entities.items():
        written = [
            stamp.sub(b"TS", (d.path / entry.collection / ("%s.json" % entry.oid)).read_bytes()) for d in (warm, cold)
        ]
        assert written[0] == written[1], entity
    exports = warm.exported(2)
    assert (
        exports
        == cold.exported(2)
        == {"%s.fcl" % e: to_fhicl(cold.read(x.collection, x.oid)) for e, x in cold.latest(2).entities.items()}
    )
    assert warm.exported(1)["metadata.fcl"] != exports["metadata.fcl"]
