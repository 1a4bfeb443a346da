"""rra.fhicl against artdaq_database's own tests and what the real C++ library produced."""

import json
from pathlib import Path

import pytest

from rra.fhicl import cppjson, to_document, to_fhicl

DATA = Path(__file__).resolve().parent / "data"  # copied from ../shared: data/README.md
FCL2DBJSON = DATA / "fixtures/artdaq_database/fcl2dbjson"
GOLDEN = DATA / "golden/artdaqdb/fhicl"
DB = DATA / "golden/artdaqdb/legacy_pipeline/db"


def plain(document, keep_name=False):
    """The document as the Python json module reads the C++ output; timestamps blanked."""
    out = json.loads(cppjson.dumps(document), strict=False)
    out["origin"]["timestamp"] = ""
    if not keep_name:
        out["origin"]["name"] = ""
    return out


def golden_json(path, keep_name=False):
    out = json.loads(path.read_text(), strict=False)
    out["origin"]["timestamp"] = ""
    if not keep_name:
        out["origin"]["name"] = ""
    return out


# fcl2dbjson: the C++ tests, as their CMakeLists wire them
FHICL_TO_JSON = [
    ("test001", "test001"),
    ("test001", "test002"),
    ("test001", "test003"),
    ("test001", "test004"),
    ("test001", "test005"),
    ("test005", "test006"),
    ("test006", "test007"),
    ("test006", "test008"),
]
JSON_TO_FHICL = [("test002", "test001"), ("test002", "test002"), ("test007", "test008")]
ROUNDTRIP = sorted(p.name for p in (FCL2DBJSON / "test003").glob("*.fcl"))


@pytest.mark.parametrize("folder,name", FHICL_TO_JSON)
def test_fhicl_to_json(folder, name):
    doc = to_document((FCL2DBJSON / folder / (name + ".fcl")).read_text(), "notprovided")
    assert plain(doc) == golden_json(FCL2DBJSON / folder / (name + ".json"))


@pytest.mark.parametrize("folder,name", JSON_TO_FHICL)
def test_json_to_fhicl(folder, name):
    doc = cppjson.loads((FCL2DBJSON / folder / (name + ".json")).read_bytes())
    assert to_fhicl(doc) == (FCL2DBJSON / folder / (name + ".fcl")).read_text()


@pytest.mark.parametrize("name", ROUNDTRIP)
def test_fhicl_json_fhicl_is_identity(name):
    text = (FCL2DBJSON / "test003" / name).read_text()
    assert to_fhicl(to_document(text)) == text


@pytest.mark.parametrize("name", ["test001", "test002"])
def test_json_fhicl_json_is_identity(name):
    """test004 (RoundConvert_DBJson2Fhicl): JSON -> FHiCL -> JSON gives the same JSON."""
    path = FCL2DBJSON / "test004" / (name + ".json")
    assert plain(to_document(to_fhicl(cppjson.loads(path.read_bytes())))) == golden_json(path)


def test_regenerated_layout_gives_same_document():
    """test008a.fcl (not wired in the C++ tests) is test008.fcl re-laid out: same data and metadata."""
    doc = plain(to_document((FCL2DBJSON / "test006/test008a.fcl").read_text()))
    assert doc["document"] == golden_json(FCL2DBJSON / "test006/test008.json")["document"]


def test_corpus_sizes():
    assert len(ROUNDTRIP) == 16 and len(GOLDEN_FILES) == 67 and len(STORED) >= 124


# golden/artdaqdb/fhicl: 67 real files, the real fhicl_to_json output and the real export
GOLDEN_FILES = sorted(p.relative_to(GOLDEN / "expected").with_suffix("") for p in (GOLDEN / "expected").rglob("*.json"))


@pytest.mark.parametrize("rel", GOLDEN_FILES, ids=str)
def test_golden_to_json(rel):
    src = GOLDEN / "input" / rel.with_suffix(".fcl")
    doc = to_document(src.read_bytes().decode("utf-8", "surrogateescape"), src.name)
    assert plain(doc, keep_name=True) == golden_json(GOLDEN / "expected" / rel.with_suffix(".json"), True)


@pytest.mark.parametrize("rel", GOLDEN_FILES, ids=str)
def test_golden_export(rel):
    src = GOLDEN / "input" / rel.with_suffix(".fcl")
    doc = to_document(src.read_bytes().decode("utf-8", "surrogateescape"), src.name)
    expected = (GOLDEN / "expected" / rel.parent / (rel.name + ".exported.fcl")).read_bytes()
    assert cppjson.encode_bytes(to_fhicl(doc)) == expected
    # the export of the stored JSON text is the same as that of the in-memory document
    assert to_fhicl(cppjson.loads(cppjson.dumps(doc))) == to_fhicl(doc)


# legacy_pipeline/db: documents the real C++ library stored (its own JSON bytes)
STORED = sorted(p for p in DB.glob("*/*.json") if p.name != "index.json" and p.parent.name != "SystemMetadata")


def _stored():
    by_run_name = {}
    for path in STORED:
        record = cppjson.loads(path.read_bytes())
        run = record["runs"][0]["name"] if record.get("runs") else None
        by_run_name.setdefault((run, record["origin"]["name"]), []).append(record)
    return by_run_name


def test_stored_records_export_and_reimport():
    """Every stored record exports, and the export reads back to the same document."""
    for path in STORED:
        record = cppjson.loads(path.read_bytes())
        back = to_document(to_fhicl(record))
        for part in ("data", "metadata"):
            assert back["document"][part] == record["document"][part], path


def test_stored_records_match_our_conversion():
    """The run files that were stored convert to exactly what the C++ stored (comments too)."""
    stored = _stored()
    checked = 0
    for path in sorted((DATA / "golden/fhiclize").rglob("*.fcl")):
        run = next(part for part in path.parts if part.isdigit())
        candidates = stored.get((run, path.stem), [])
        if not candidates:
            continue
        doc = to_document(path.read_text())
        assert any(
            c["document"]["data"] == doc["document"]["data"]
            and c["document"]["metadata"] == doc["document"]["metadata"]
            and c["comments"] == doc["comments"]
            for c in candidates
        ), path
        checked += 1
    assert checked >= 100


def test_stored_record_example():
    record = cppjson.loads((DATA / "fixtures/artdaq_database/stored_document_example.json").read_bytes())
    text = to_fhicl(record)
    assert text.startswith("\nservices: {\n") and to_fhicl(record["document"]) == text
    assert to_document(text)["document"]["data"] == record["document"]["data"]
