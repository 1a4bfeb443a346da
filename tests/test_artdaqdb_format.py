"""The on-disk facts the C++ library and rra must share: documents, index.json, SystemMetadata, URIs."""

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from rra.artdaqdb import ArtdaqDBError, open_artdaqdb, redact
from rra.artdaqdb import index, record, runs
from rra.fhicl import cppjson

DATA = Path(__file__).resolve().parent / "data"  # copied from ../shared: data/README.md
GOLDEN = DATA / "golden/artdaqdb/legacy_pipeline/db"
TS = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4}")


def golden_docs():
    return sorted(p for p in GOLDEN.glob("*/*.json") if p.name != "index.json" and p.parent.name != "SystemMetadata")


def test_timestamp_format_and_parse():
    ts = record.timestamp()
    assert record.TIMESTAMP.match(ts), ts
    when = datetime(2024, 3, 11, 9, 57, 22, 123456, tzinfo=timezone(timedelta(hours=-5)))
    stamp = record.timestamp(when)
    assert record.parse_timestamp(stamp) == when.replace(microsecond=123000)
    assert record.timestamp(datetime(2024, 3, 11, 14, 57, 22, 123000, tzinfo=timezone.utc)).count(".123") == 1
    with pytest.raises(ValueError):
        record.parse_timestamp("2024-03-11 09:57:22")


def test_oid_is_24_hex_and_stable():
    oid = record.oid("RunHistory", "1000/standard", "metadata")
    assert record.OID.match(oid) and oid == record.oid("RunHistory", "1000/standard", "metadata")
    assert oid != record.oid("RunHistory", "1000/standardv1", "metadata")


@pytest.mark.parametrize("collection", ["RunHistory", "SystemLayout"])
def test_cpp_index_round_trips_byte_for_byte(collection):
    raw = (GOLDEN / collection / "index.json").read_bytes()
    assert index.Index.parse(raw).dumps() == raw


def test_index_add_keeps_cpp_rules():
    idx = index.Index.parse(index.EMPTY)
    for oid, version in (("b" * 24, "7/x"), ("a" * 24, "7/xv1"), ("b" * 24, "7/x")):
        assigned = "2024-01-01T00:00:00.00%d+0000" % len(version)
        idx.add(
            {
                "oid": oid,
                "version": version,
                "configurations": [("7/x", assigned)],
                "entities": ["e"],
                "aliases": [],
                "runs": ["7"],
            }
        )
    data = json.loads(idx.dumps())
    assert list(data) == list(index.KEYS)
    assert data["ouid"] == ["a" * 24, "b" * 24]
    assert data["entities.name"]["e"] == ["a" * 24, "b" * 24]
    assert data["configurations.assigned"]["7/x"] == ["2024-01-01T00:00:00.003+0000", "2024-01-01T00:00:00.005+0000"]
    assert data["version"] == {"7/x": ["b" * 24], "7/xv1": ["a" * 24]}
    assert index.Index.parse(idx.dumps()).dumps() == idx.dumps()
    assert index.Index.parse(index.EMPTY).dumps().startswith(b'{\n"ouid" : [\n\n],\n"version" : {\n\n}')


def test_index_serialization_cache_follows_changes():
    idx = index.Index.parse((GOLDEN / "RunHistory/index.json").read_bytes())
    first = idx.dumps()
    f = {
        "oid": "0" * 24,
        "version": "1000/circular_buffer_mode_withRMv2",
        "configurations": [("1000/circular_buffer_mode_withRM", "2030-01-01T00:00:00.000+0000")],
        "entities": ["metadata", "new_entity"],
        "aliases": [],
        "runs": ["1000"],
    }
    idx.add(f)
    fresh = index.Index.parse(first)
    fresh.add(f)
    assert idx.dumps() == fresh.dumps() != first


def test_long_lists_serialize_by_bucket_exactly():
    import random

    rng = random.Random(7)
    idx = index.Index.parse(index.EMPTY)
    for n in range(3000):
        oid = "%024x" % rng.getrandbits(96)
        idx.add(
            {
                "oid": oid,
                "version": "%d/c" % (n % 700),
                "configurations": [("%d/c" % (n % 700), "T%05d" % n)],
                "entities": ["e%d" % (n % 3), 'odd "name"\\'],
                "aliases": [],
                "runs": [str(n % 700)],
            }
        )
        if n % 500 == 0 or n > 2990:
            assert idx.dumps() == index.Index.parse(idx.dumps()).dumps()
    data = json.loads(idx.dumps())
    assert len(data["ouid"]) == 3000 and data["ouid"] == sorted(data["ouid"])
    assert len(data["entities.name"]['odd "name"\\']) == 3000


def test_index_reads_cpp_dialect_escapes():
    idx = index.Index.parse(b'{"ouid":["x"], "version":{"a\\\\d":["x"]}}')
    assert idx.data["version"] == {"a\\d": ["x"]} and set(idx.data) == set(index.KEYS)
    assert index.Index.parse(idx.dumps()).data["version"] == {"a\\d": ["x"]}


def test_golden_documents_have_the_record_shape():
    """A document built by rra equals the C++ one but for timestamps and oid."""
    for path in golden_docs():
        raw = path.read_bytes()
        doc = cppjson.loads(raw)
        converted = {
            "document": cppjson.Object([kv for kv in doc["document"] if kv[0] != "search"]),
            "comments": doc["comments"],
        }
        entity, run = doc["entities"][0]["name"], doc["runs"][0]["name"]
        built = record.build(
            converted, entity, doc["collection"], doc["version"], doc["configurations"][0]["name"], run, "TS"
        )
        built["_id"]["$oid"] = doc["_id"]["$oid"]
        assert cppjson.encode_bytes(cppjson.dumps(built)) == TS.sub(b'"TS"'[1:-1], raw), path


def test_build_text_is_what_build_writes():
    """The store writes from the texts of a conversion: the same bytes and index fields as from the tree."""
    for path in golden_docs():
        doc = cppjson.loads(path.read_bytes())
        converted = {
            "document": cppjson.Object([kv for kv in doc["document"] if kv[0] != "search"]),
            "comments": doc["comments"],
        }
        args = (
            doc["entities"][0]["name"],
            doc["collection"],
            doc["version"],
            doc["configurations"][0]["name"],
            doc["runs"][0]["name"],
            "TS",
        )
        built = record.build(converted, *args)
        keys, text = record.build_text(
            record.build(record.TEXT, *args), cppjson.dumps(converted["document"]), cppjson.dumps(converted["comments"])
        )
        assert text == cppjson.dumps(built) and keys == record.fields(built), path


def test_hashes_document_matches_legacy():
    """The legacy `hashes` entity: the same document from the same md5s."""
    for path in golden_docs():
        doc = cppjson.loads(path.read_bytes())
        if doc["entities"][0]["name"] != "hashes":
            continue
        md5s = record.parse_hashes(doc)
        built = record.hashes_document(md5s)
        assert cppjson.Object(list(built["document"]) + [("search", [])]) == doc["document"]
        assert record.hashes_lines(md5s)[-1] == "configuration:" + doc["document"]["data"]["main"]["configuration"]


def test_hashes_document_is_what_fhicl_to_json_makes_of_the_text():
    from rra.fhicl import to_document

    md5s = {
        "a": "1e14ab5f701e1112e1ad6f882d60ae4c",
        "b": "12345678901234567890123456789012",
        "c": "123e4567",
        "d": "ffffffffffffffffffffffffffffffff",
    }
    text = "\n".join(record.hashes_lines(md5s))
    assert record.hashes_document(md5s)["document"] == to_document(text, "hashes")["document"]


def test_hashes_lines_legacy_rule():
    lines = record.hashes_lines({"b": "2" * 32, "B": "1" * 32, "schema": "x", "hashes": "y"})
    assert lines[:2] == ["B:" + "1" * 32, "b:" + "2" * 32]
    assert lines[2] == "configuration:" + record.md5(",".join(lines[:2]))


def test_system_metadata_one_line_format():
    text = record.system_metadata("filesystemdb:///data/x", "2024-01-01T00:00:00.000+0000", "a" * 24)
    golden = next((GOLDEN / "SystemMetadata").glob("[0-9a-f]*.json")).read_text()
    shape = lambda t: re.sub(r'"[^"]*"', '""', t)
    assert shape(text) == shape(golden) and "\n" not in text
    assert json.loads(text)["document"]["database_format"] == 3


def test_schema_rules_and_collections():
    rules = runs.schema_rules(runs.BUNDLED_SCHEMA.read_bytes())
    assert (DATA / "fixtures/artdaq_database/schema.fcl").read_bytes() == runs.BUNDLED_SCHEMA.read_bytes()
    assert len(rules) == 17 and rules[-2][0] == "SystemLayout"
    col = lambda e: runs.collection_of(e, rules)
    assert col("DataLogger1") == col("component07") == col("metadata") == col("RunHistory2") == "RunHistory"
    assert col("schema") == "SystemLayout" and col("flags") == "Flags"
    assert col("environment") == col("settings") == col("hashes") == "RunHistory"  # no rule: never dropped


def test_schema_rules_errors_name_the_file(tmp_path):
    bad = tmp_path / "schema.fcl"
    bad.write_text("run_history: [{ collection: X }]\n")
    with pytest.raises(ArtdaqDBError, match="schema.fcl"):
        runs.schema_rules(bad.read_text(), bad)


def test_version_numbers():
    assert runs.version_number("1/a", "1/a") == 0
    assert runs.version_number("1/av12", "1/a") == 12
    assert runs.version_number("1/ab", "1/a") == -1


def test_uri_redaction_and_backends(tmp_path):
    assert redact("mongodb://user:secret@host:27017/db_archive") == "mongodb://host:27017/db_archive"
    with pytest.raises(ArtdaqDBError) as e:
        open_artdaqdb("mongodb://user:secret@host:27017/db_archive")
    assert "secret" not in str(e.value) and "conftoolp" in str(e.value) and "tools" in str(e.value)
    with pytest.raises(ArtdaqDBError, match="filesystemdb"):
        open_artdaqdb("http://host/x")
    with pytest.raises(ArtdaqDBError, match="unknown backend"):
        open_artdaqdb("filesystemdb:///x", backend="nope")
    db = open_artdaqdb("filesystemdb://%s/" % tmp_path)
    assert db.backend == "native" and str(db.path) == str(tmp_path)


def test_error_carries_run_file_uri():
    e = ArtdaqDBError("boom", run=7, file="a.fcl", uri="filesystemdb:///x")
    assert str(e) == "artdaqDB filesystemdb:///x: run 7: a.fcl: boom"
    assert (e.run, e.file, e.uri, e.message) == (7, "a.fcl", "filesystemdb:///x", "boom")


def test_document_key_is_the_document_part_alone():
    from rra.artdaqdb.filesystem import document_key

    docs = [path.read_bytes() for path in golden_docs()]
    keys = [document_key(raw) for raw in docs]
    assert None not in keys
    for raw, key in zip(docs, keys):
        doc = cppjson.loads(raw)
        other = cppjson.Object(list(doc))
        other["runs"], other["version"] = [cppjson.Object([("name", "99"), ("assigned", "TS")])], "99/x"
        assert document_key(cppjson.encode_bytes(cppjson.dumps(other))) == key  # bookkeeping aside
        changed = cppjson.loads(raw)
        changed["document"]["data"]["main"].append(("comments", "x"))  # a key the layout also has
        assert document_key(cppjson.encode_bytes(cppjson.dumps(changed))) != key
    assert len(set(keys)) == len({json.dumps(json.loads(raw)["document"]) for raw in docs})
    assert document_key(b'{"document":{}}') is None and document_key(b'{\n"document" : {\n') is None
