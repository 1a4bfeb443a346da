"""The parser's one-match fast paths read exactly what its slow path reads, errors included."""

import pytest

from rra.fhicl import FhiclError, cppjson, to_document
from rra.fhicl.parser import _FAST_ENTRY, _FAST_VALUE


def main(text):
    doc = to_document(text, "t.fcl")["document"]
    return doc["data"]["main"], doc["metadata"]["main"]["children"]


def test_a_redefined_key_keeps_its_first_place_and_its_last_value():
    data, meta = main("t: { a: 1 b: [2] a: { c: 3 } b: 4 }\n")
    assert data["t"] == cppjson.Object([("a", cppjson.Object([("c", "3")])), ("b", "4")])
    assert [k for k, _ in meta["t"]["children"]] == ["a", "b"]
    assert meta["t"]["children"]["a"]["type"] == "table" and meta["t"]["children"]["b"]["type"] == "number"


def test_top_level_duplicates_are_all_kept():
    data, _ = main("a: 1\na: 2\n")
    assert data == cppjson.Object([("a", "1"), ("a", "2")])


def test_prolog_keywords_are_keys_inside_a_table():
    data, _ = main("t: { BEGIN_PROLOG: 1 END_PROLOG: x }\n")
    assert data["t"] == cppjson.Object([("BEGIN_PROLOG", "1"), ("END_PROLOG", "x")])


def test_comments_between_key_protection_and_colon():
    data, meta = main("a # one\n @protect_ignore // two\n : # three\n 5 # four\n")
    assert data["a"] == "5" and meta["a"]["protection"] == "@protect_ignore"


@pytest.mark.parametrize(
    "text,kind,raw",
    [
        ('"a\\"b" ', "string_doublequoted", 'a\\"b'),
        ('"" ', "string_doublequoted", ""),
        ("'x\"y' ", "string_singlequoted", 'x"y'),
        ("( 1 , -2e3 ) ", "complex", "( 1 , -2e3 )"),
        ("0x1F ", "number", "0x1F"),
        ("1abc ", "string_unquoted", "1abc"),
        ("trueish ", "string_unquoted", "trueish"),
        ("@local::a.b[0] ", "string_unquoted", "@local::a.b[0]"),
        ("@id::x ", "tableid", "@id::x"),
    ],
)
def test_scalars_read_in_one_match(text, kind, raw):
    m = _FAST_VALUE.match(text)
    assert (m.lastgroup, m.group(m.lastindex), m.end()) == (kind, raw, len(text))
    entry = _FAST_ENTRY.match("k: " + text)
    assert (entry.group(1), entry.lastgroup, entry.group(entry.lastindex)) == ("k", kind, raw)


@pytest.mark.parametrize("text", ['a: "x\\" y"z\n', "a: 1.5e\n", "a: b:c\n", "a: (1, 2)x\n"])
def test_what_the_fast_paths_refuse_is_still_an_error(text):
    assert _FAST_VALUE.match(text[3:]) is None
    with pytest.raises(FhiclError):
        to_document(text, "bad.fcl")
