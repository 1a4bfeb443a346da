"""Input the C++ cannot parse gives FhiclError with file, line, column and text; never a crash."""

import pytest

from rra.fhicl import FhiclError, check, cppjson, to_document, to_fhicl

BAD = [  # (text, line, column, text at the error)
    ("a: 1\nb: {c: 1\n", 2, 4, "{c: 1"),
    ("a: [1, 2\n", 1, 4, "[1, 2"),
    ('a: "open\n', 1, 4, '"open'),
    ("a: 'open\n", 1, 4, "'open"),
    ("a 1\n", 1, 3, "1"),
    ("a: 1.2.3\n", 1, 4, "1.2.3"),
    ("x: 1\n@table::t\n", 2, 1, "@table::t"),
    ("a: { @table::t }\n", 1, 6, "@table::t }"),
    ("END_PROLOG\n", 1, 1, "END_PROLOG"),
    ("BEGIN_PROLOG\na: 1\n", 3, 1, "<end of file>"),
    ("a: 1\nBEGIN_PROLOG\nb: 2\nEND_PROLOG\n", 2, 1, "BEGIN_PROLOG"),
    ("a: [1,]\n", 1, 7, "]"),
    ("a: (1,\n", 1, 4, "(1,"),
    ("1a: 2\n", 1, 1, "1a: 2"),
    ("a: {}\n}\n", 2, 1, "}"),
    ("a: b#c\n", 1, 4, "b#c"),
    ("a: @foo\n", 1, 4, "@foo"),
    ("a:\n", 2, 1, "<end of file>"),
    ("a: 127.0.0.1\n", 1, 4, "127.0.0.1"),
    ('a: "x"y\n', 1, 7, "y"),
    ("a: [1 2]\n", 1, 7, "2]"),
    ("  x.y: @local::\n", 1, 8, "@local::"),
    ('#include "f.fcl"\nBEGIN_PROLOG\nEND_PROLOG\n', 2, 1, "BEGIN_PROLOG"),
]


@pytest.mark.parametrize("text,line,column,snippet", BAD)
def test_malformed(text, line, column, snippet):
    with pytest.raises(FhiclError) as info:
        to_document(text, "bad.fcl")
    e = info.value
    assert (e.name, e.line, e.column, e.text) == ("bad.fcl", line, column, snippet)
    assert str(e).startswith("bad.fcl:%d:%d: " % (line, column)) and repr(snippet) in str(e)
    with pytest.raises(FhiclError):
        check(text, "bad.fcl")


def test_check_accepts_valid():
    assert check('BEGIN_PROLOG\n#include "x.fcl"\np: 1\nEND_PROLOG\na: @local::p  # c\n', "ok.fcl") is None


@pytest.mark.parametrize("depth", [5000])
def test_deep_tables(depth):
    text = "a: " + "{b: " * depth + "1" + "}" * depth + "\n"
    doc = to_document(text, "deep.fcl")
    out = to_fhicl(cppjson.loads(cppjson.dumps(doc)))
    again = to_document(out)["document"]["data"]
    assert out.count("{") == depth and cppjson.dumps(again) == cppjson.dumps(doc["document"]["data"])


def test_deep_sequences_and_unterminated():
    doc = to_document("a: " + "[" * 5000 + "1" + "]" * 5000)
    assert to_fhicl(doc).count("[") == 5000
    with pytest.raises(FhiclError):
        to_document("a: " + "{b: " * 5000)
    with pytest.raises(FhiclError):
        to_document("a: " + "[" * 5000)


def test_export_errors():
    doc = to_document("a: 1\nb: 2\n")
    del doc["document"]["metadata"]["main"]["children"]["b"]
    with pytest.raises(FhiclError, match="'b' has no metadata"):
        to_fhicl(doc)
    with pytest.raises(FhiclError):
        to_fhicl({"nothing": 1})
    bad_type = to_document("a: 1\n")
    bad_type["document"]["metadata"]["main"]["children"]["a"].set("type", "unknown")
    with pytest.raises(FhiclError, match="not implemented"):
        to_fhicl(bad_type)


def test_nested_missing_metadata_truncates_like_the_cpp():
    doc = to_document("t: {a: 1 b: 2 c: 3}\ns: [1, 2, 3]\n")
    children = doc["document"]["metadata"]["main"]["children"]
    del children["t"]["children"]["b"]
    del children["s"]["children"]["1"]
    assert to_fhicl(doc) == "\nt: {\n\na: 1 \n\n}\ns: [1] \n"


def test_semantics_kept_verbatim():
    text = (
        'BEGIN_PROLOG\np @protect_ignore: 1\nEND_PROLOG\n#include "a.fcl"\n'
        "x.y.z: @local::p\nq: @erase\nd: 1 # one\nd: 2\nt: {k: 1 k: 2}\nz: [(1,2), @nil, 0x1F, 'a b']\n"
    )
    doc = to_document(text)
    data = doc["document"]["data"]
    meta = doc["document"]["metadata"]
    assert data["prolog"].keys() == ["p"] and data["main"].keys() == [
        "fhicl_pound_include_0",
        "x.y.z",
        "q",
        "d",
        "d",
        "t",
        "z",
    ]
    assert data["main"].values_of("d") == ["1", "2"] and data["main"]["t"] == cppjson.Object([("k", "2")])
    assert data["main"]["z"] == ["(1,2)", "@nil", "0x1F", "a b"]
    assert meta["prolog"]["children"]["p"]["protection"] == "@protect_ignore"
    kinds = [m["type"] for m in meta["main"]["children"]["z"]["children"].values()]
    assert kinds == ["complex", "nil", "number", "string_singlequoted"]
    assert doc["comments"] == [
        cppjson.Object([("linenum", 4), ("value", '#include "a.fcl"')]),
        cppjson.Object([("linenum", 7), ("value", "# one")]),
    ]
    assert to_document("a: 1")["comments"] == [cppjson.Object([("linenum", 0), ("value", "No comments")])]
