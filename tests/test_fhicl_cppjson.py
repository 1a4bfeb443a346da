"""The C++ JSON dialect: every file the C++ wrote comes back byte for byte."""

from pathlib import Path

import pytest

from rra.fhicl import cppjson

DATA = Path(__file__).resolve().parent / "data"  # copied from ../shared: data/README.md
FILES = sorted(
    list((DATA / "golden/artdaqdb/legacy_pipeline/db").rglob("*.json"))
    + list((DATA / "fixtures/artdaq_database").rglob("*.json"))
)


def test_corpus_found():
    assert len(FILES) >= 142


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(DATA)))
def test_roundtrip(path):
    data = path.read_bytes()
    assert cppjson.encode_bytes(cppjson.dumps(cppjson.loads(data))) == data


def test_object_semantics():
    obj = cppjson.loads('{"a" : 1,\n"a" : "x",\n"b" : [\n\n]\n}')
    assert obj["a"] == 1 and obj.values_of("a") == [1, "x"] and obj.keys() == ["a", "a", "b"]
    assert obj[1] == ("a", "x") and "b" in obj and "c" not in obj and obj.get("c", 7) == 7
    with pytest.raises(KeyError):
        obj["c"]
    obj.set("a", 2)
    obj["c"] = {"d": True}
    assert cppjson.dumps(obj) == '{\n"a" : 2,\n"a" : "x",\n"b" : [\n\n],\n"c" : {\n"d" : true\n}\n}'
    assert cppjson.dumps(obj, compact=True) == '{"a":2,"a":"x","b":[],"c":{"d":true}}'
    del obj["a"]
    assert obj.keys() == ["a", "b", "c"] and isinstance(obj.copy(), cppjson.Object)


def test_strings_and_bytes():
    raw = b'{\n"s" : "q\\" nl\\n tab\\t \\\\ \\d raw\ttab",\n"u" : "\xff\xfe"\n}'
    obj = cppjson.loads(raw)
    assert obj["s"] == 'q" nl\n tab\t \\ \\d raw\ttab'
    assert cppjson.encode_bytes(cppjson.dumps(obj)) == raw
    assert cppjson.dumps({"k": 'a"b\\c\n'}) == '{\n"k" : "a\\"b\\\\c\\n"\n}'
    assert cppjson.dumps({"e": {}, "l": []}) == '{\n"e" : {\n\n},\n"l" : [\n\n]\n}'


def test_templates_keep_their_spacing():
    meta = b'{"document":{"name":"artdaq","database_format":3},"_id": { "$oid":"d8c0"}}'
    obj = cppjson.loads(meta)
    assert cppjson.dumps(obj).encode() == meta
    obj["document"].set("name", "x")
    assert (
        cppjson.dumps(obj)
        == '{\n"document" : {\n"name" : "x",\n"database_format" : 3\n},\n"_id" : {\n"$oid" : "d8c0"\n}\n}'
    )


def test_rejects():
    for bad in ['{"a" : null}', '{"a" 1}', '{"a" : 1', "[1,]", "{\"a\" : 'x'}"]:
        with pytest.raises(cppjson.JSONError):
            cppjson.loads(bad)


def test_deep():
    text = "[\n" * 20000 + "]\n" * 20000
    assert cppjson.dumps(cppjson.loads(text.replace("\n", ""))).count("[") == 20000
