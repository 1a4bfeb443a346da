"""The embedded SQLite store: the server's semantics locally, safe across processes."""

import json
import subprocess
import sys
import textwrap

import pytest

from rra.ucondb import EmbeddedUconDB, KeyExists, Store, UconDBNotFound, open_ucondb
from rra.ucondb.meta import adler32


@pytest.fixture
def db(tmp_path):
    return open_ucondb(f"sqlite://{tmp_path}/ucondb.sqlite", "run_records", "configuration")


def test_factory_and_empty(db, tmp_path):
    assert isinstance(db, EmbeddedUconDB) and db.url == f"sqlite://{tmp_path}/ucondb.sqlite"
    assert db.keys() == [] and db.versions() == [] and db.meta(1) is None
    assert db.version().startswith("embedded")


def test_put_get(db):
    meta = db.put(1000, b"blob", tags=["1000"])
    assert (meta.key, meta.size, meta.adler32, meta.tags) == ("1000", 4, adler32(b"blob"), ("1000",))
    assert meta.folder == "public.run_records" and meta.tr > 1e9
    data, got = db.get(1000)
    assert data == b"blob" and got.version_id == meta.version_id and got.md5 == meta.md5 and len(got.md5) == 32
    with pytest.raises(UconDBNotFound, match="Version not found"):
        db.get(1001)


def test_key_unique_and_override_keeps_history(db):
    first = db.put(5, b"a")
    with pytest.raises(KeyExists, match="Version of object configuration with key 5 already exists"):
        db.put(5, b"b")
    second = db.put(5, b"b", override=True)
    assert second.version_id > first.version_id
    assert db.get(5)[0] == b"b"
    old, meta = db.get_version(first.version_id)
    assert old == b"a" and meta.key is None
    assert db.keys() == ["5"] and [m.key for m in db.versions()] == ["5", None]


def test_identical_blobs_stored_once(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    a = store.put("f", "o", "1", b"same bytes")
    b = store.put("f", "o", "2", b"same bytes")
    c = store.put("f", "p", "1", b"other bytes")
    assert a.data_key == b.data_key != c.data_key and a.version_id != b.version_id
    assert store.blob(a.data_key) == b"same bytes"
    assert store.objects("f") == ["o", "p"]


def test_fixed_folders(tmp_path):
    store = Store(tmp_path / "s.sqlite", create=False)
    store.add_folder("known")
    with pytest.raises(UconDBNotFound, match="Folder unknown not found"):
        store.versions("unknown", "o")
    with pytest.raises(UconDBNotFound, match="Folder unknown not found"):
        store.put("unknown", "o", "1", b"x")
    with pytest.raises(UconDBNotFound, match="Object o not found"):
        store.put("known", "o", "1", b"x")  # objects are declared, too
    store.add_object("known", "o")
    with pytest.raises(UconDBNotFound, match="Object o not found"):
        store.versions("known", "o")  # declared but no versions yet
    assert store.put("known", "o", "1", b"x").key == "1"


WORKER = textwrap.dedent("""
    import json, sys
    from rra.ucondb import KeyExists, open_ucondb
    db = open_ucondb("sqlite://" + sys.argv[1], "run_records", "configuration")
    me, ids, shared = sys.argv[2], [], 0
    for i in range(50):
        ids.append(db.put(f"{me}{i:03d}", f"{me}/{i}".encode() * 50, tags=[me]).version_id)
    try:
        db.put("shared", me.encode())
        shared = 1
    except KeyExists:
        pass
    print(json.dumps({"ids": ids, "shared": shared}))
""")


def test_concurrent_processes(tmp_path):
    path = str(tmp_path / "ucondb.sqlite")
    procs = [
        subprocess.Popen([sys.executable, "-c", WORKER, path, str(p)], stdout=subprocess.PIPE, text=True)
        for p in range(1, 5)
    ]
    results = [json.loads(p.communicate(timeout=60)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    ids = [i for r in results for i in r["ids"]]
    assert len(ids) == 200 == len(set(ids))
    assert sum(r["shared"] for r in results) == 1  # exactly one process won the key
    db = open_ucondb("sqlite://" + path, "run_records", "configuration")
    assert len(db.keys()) == 201
    data, _ = db.get("3017")
    assert data == b"3/17" * 50
