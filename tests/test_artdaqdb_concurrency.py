"""Four real processes importing 100 runs into one archive: every document indexed, every invariant kept."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from rra.artdaqdb import open_artdaqdb
from rra.artdaqdb.check import check
from rra.fhicl import cppjson
from rra.fhiclize import fhiclize_run

from conftest import make_records

RUNS, PROCESSES, SHARED_RUNS = range(1, 101), 4, range(1, 11)
KEYS = (
    "ouid",
    "version",
    "configurations.name",
    "entities.name",
    "aliases.active.name",
    "runs.name",
    "configurations.assigned",
)
DOC_KEYS = [
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
TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4}\Z")
OID = re.compile(r"[0-9a-f]{24}\Z")

WORKER = """
import sys
from rra.artdaqdb import open_artdaqdb
from rra.fhiclize import fhiclize_run
uri, records, runs = sys.argv[1], sys.argv[2], [int(r) for r in sys.argv[3:]]
db = open_artdaqdb(uri)
for run in runs:
    result = fhiclize_run('%s/%d' % (records, run))
    stored = db.store(run, result.config_name.replace('/', '_'), result.files)
    print(run, stored.version or '-')
"""


def assert_invariants(db_path, expected):
    """Every fact of artdaqdb-filesystem-format.md that a run archive must keep (checked independently)."""
    root = Path(db_path)
    assert not list(root.glob(".rra-tmp.*"))
    meta = [p for p in (root / "SystemMetadata").iterdir() if p.name != "index.json"]
    assert len(meta) == 1 and OID.match(meta[0].stem)
    text = meta[0].read_text()
    assert "\n" not in text and text.startswith('{"document":{"name":"artdaq","uri":"filesystemdb://')
    created = re.search(r'"create_time":"([^"]+)"', text)
    assert created and TS.match(created.group(1))
    assert text.endswith('"database_format":3},"_id": { "$oid":"%s"}}' % meta[0].stem)
    runs_docs = {}
    for coll in sorted(p for p in root.iterdir() if p.is_dir() and p.name != "SystemMetadata"):
        idx = cppjson.loads((coll / "index.json").read_bytes())
        assert idx.keys() == list(KEYS), coll
        for key in KEYS:
            lists = [idx[key]] if key == "ouid" else idx[key].values()
            for items in lists:
                assert items == sorted(set(items)), (coll, key)
        files = {p.stem for p in coll.glob("*.json") if p.name != "index.json"}
        assert set(idx["ouid"]) == files and all(OID.match(o) for o in files), coll
        listed = lambda key: {o for items in idx[key].values() for o in items}
        assert listed("configurations.name") <= listed("entities.name") & listed("version")
        for oid in files:
            doc = cppjson.loads((coll / ("%s.json" % oid)).read_bytes())
            assert doc.keys() == DOC_KEYS and doc["_id"]["$oid"] == oid and doc["collection"] == coll.name
            assert oid in idx["version"][doc["version"]]
            for c in doc["configurations"]:
                assert oid in idx["configurations.name"][c["name"]]
                assert c["assigned"] in idx["configurations.assigned"][c["name"]]
            for key, index_key in (("entities", "entities.name"), ("runs", "runs.name")):
                for item in doc[key]:
                    assert oid in idx[index_key][item["name"]] and TS.match(item["assigned"])
            assert TS.match(doc["origin"]["timestamp"]) and TS.match(doc["bookkeeping"]["created"])
            assert doc["changelog"] == doc["configtype"] == "notprovided" and doc["comments"]
            run = int(doc["runs"][0]["name"])
            assert doc["version"] == doc["configurations"][0]["name"] and doc["version"].startswith("%d/" % run)
            runs_docs.setdefault(run, []).append((coll.name, doc["entities"][0]["name"]))
    assert sorted(runs_docs) == sorted(expected)
    for run, entities in expected.items():
        got = sorted(runs_docs[run])
        assert got == sorted(set(got)), "run %d stored twice: %s" % (run, got)  # one version, one doc per entity
        assert got == sorted(
            [("RunHistory", e) for e in entities] + [("RunHistory", "hashes"), ("SystemLayout", "schema")]
        )


def test_four_processes_a_hundred_runs(tmp_path):
    records = tmp_path / "records"
    make_records(records, 1, len(RUNS), "--lite")
    uri = "filesystemdb://%s" % (tmp_path / "db")
    slices = [[r for r in RUNS if r % PROCESSES == i] + list(SHARED_RUNS) for i in range(PROCESSES)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, uri, str(records)] + [str(r) for r in s],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for s in slices
    ]
    outputs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0, err
    stored = [line.split() for out, _ in outputs for line in out.splitlines()]
    firsts = [run for run, version in stored if version != "-"]
    assert sorted(map(int, firsts)) == list(RUNS)  # each run stored once, whoever came first

    db = open_artdaqdb(uri)
    assert db.runs() == list(RUNS)
    expected = {r: [n[:-4] for n in fhiclize_run(records / str(r)).files] for r in RUNS}
    assert_invariants(tmp_path / "db", expected)
    assert check(db) == []


@pytest.mark.parametrize("processes", [4])
def test_same_run_from_many_processes_is_stored_once(tmp_path, processes):
    records = tmp_path / "records"
    make_records(records, 50, 1, "--lite")
    uri = "filesystemdb://%s" % (tmp_path / "db")
    procs = [
        subprocess.Popen([sys.executable, "-c", WORKER, uri, str(records), "50"], stdout=subprocess.PIPE, text=True)
        for _ in range(processes)
    ]
    versions = [p.communicate(timeout=120)[0].split()[1] for p in procs]
    assert sorted(versions) == ["-"] * (processes - 1) + ["50/%s" % fhiclize_run(records / "50").config_name]
    assert_invariants(tmp_path / "db", {50: [n[:-4] for n in fhiclize_run(records / "50").files]})
