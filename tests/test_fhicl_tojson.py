"""to_json, the text the store writes, is byte for byte cppjson.dumps(to_document(...)) and the C++ output."""

import re
from pathlib import Path

import pytest

from rra.fhicl import FhiclError, cppjson, to_document, to_json

DATA = Path(__file__).resolve().parent / "data"
INPUTS = sorted((DATA / "golden/artdaqdb/fhicl/input").rglob("*.fcl")) + sorted(
    (DATA / "fixtures/artdaq_database/fcl2dbjson").rglob("*.fcl")
)
STAMP = re.compile(r'"timestamp" : "[^"]*"')
ODD = [
    "t: { a: 1 b: [2] a: { c: 3 a: 4 c: 5 } b: 4 }\n",  # redefined keys, nested too
    "BEGIN_PROLOG\nx: 1\nEND_PROLOG\nBEGIN_PROLOG\ny: 2\nEND_PROLOG\nz: 3\n",
    "a: [[], {}, [{}], {b: []}]\ns: [ {a: 1 a: 2}, 3 ]\n",
    's: ["a\\"b", \'c\td\', (1,2)] # "q" \\ \t\n',
    '#include "x.fcl"\nfhicl_pound_include_x: { a: 1 } # c\n',
    "a @protect_error: { b: 1 } # c\nq @protect_ignore: [1, 2] # ann\n// c\nr @protect_ignore: 1 // d\n",
]


def text(path):
    return path.read_bytes().decode("utf-8", "surrogateescape")


@pytest.mark.parametrize("source", [text(p) for p in INPUTS[::7]] + ODD)
def test_the_text_is_what_the_tree_writes(source):
    assert to_json(source, "x.fcl", now=0) == cppjson.dumps(to_document(source, "x.fcl", now=0))


def test_deep_nesting_is_linear_and_exact():
    deep = "a: " + "{b: [" * 20000 + "1" + "]}" * 20000 + "\n"
    out = to_json(deep, now=0)
    assert out.count('"children" : {\n') == 40002 and cppjson.dumps(to_document(deep, now=0)) == out


def test_errors_are_the_trees():
    with pytest.raises(FhiclError, match="unterminated table"):
        to_json("a: {b: 1\n")


def test_same_bytes_as_the_cpp(reference_conftoolp):
    import conftoolp
    from bench.fhicl_speed import generated

    sources = [(p.name, text(p)) for p in INPUTS] + [("gen.fcl", generated(20000))]
    sources += [("odd%d.fcl" % i, t) for i, t in enumerate(ODD)]
    for name, source in sources:
        ok, cpp = conftoolp.fhicl_to_json(source, name)
        assert ok is True and STAMP.sub("", to_json(source, name)) == STAMP.sub("", cpp), name
