"""The optional C++ backends: real ones where installed, the tools adapter's plumbing everywhere."""
import importlib.util
import os
import shutil
import sys

import pytest

from rra.artdaqdb import ArtdaqDBError, open_artdaqdb
from rra.artdaqdb.check import check

HAVE_CONFTOOLP = importlib.util.find_spec("conftoolp") is not None
HAVE_TOOLS = all(shutil.which(t) for t in ("bulkloader", "bulkdownloader"))
FILES = {"metadata.fcl": b"config_name: \"demo\"\nrun_number: 12\n", "DataLogger1.fcl": b"daq: { a: 1 }\n"}

# Stand-ins that behave as artdaq_database's tools are documented to (real processes, same CLI).
FAKE_BULKLOADER = """#!%(python)s
import argparse, contextlib, os
from pathlib import Path
from rra.artdaqdb.filesystem import FilesystemDB
FilesystemDB.lock = lambda self, name: contextlib.nullcontext()  # the real tool takes no lock either
ap = argparse.ArgumentParser()
for o in ('-p', '-r', '-c', '-t'):
    ap.add_argument(o)
a = ap.parse_args()
if os.environ.get('FAKE_TOOL_FAIL'):
    raise SystemExit('bulkloader: cannot open ' + os.environ['ARTDAQ_DATABASE_URI'])
db = FilesystemDB(os.environ['ARTDAQ_DATABASE_URI'])
conf = '%%s/%%s' %% (a.r, a.c)
items = [(p.stem, 'SystemLayout' if p.stem == 'schema' else 'RunHistory', p.read_bytes())
         for p in sorted(Path(a.p).rglob('*.fcl'))]
db._write([(int(a.r), conf, conf, items, {})])
"""
FAKE_BULKDOWNLOADER = """#!%(python)s
import argparse, os, re
from pathlib import Path
from rra.artdaqdb.filesystem import FilesystemDB
from rra.fhicl import to_fhicl
ap = argparse.ArgumentParser()
for o in ('-p', '-r', '-c', '-t'):
    ap.add_argument(o)
a = ap.parse_args()
db = FilesystemDB(os.environ['ARTDAQ_DATABASE_URI'])
state = db.latest(int(a.r))
sub = Path(a.p) / re.sub(r'\\d+$', '', a.c)
sub.mkdir(parents=True, exist_ok=True)
for entity, entry in state.entities.items():
    if entity == os.environ.get('FAKE_TOOL_SKIP'):
        continue  # a failed read: the real tool still exits 0
    path = Path(a.p) / 'schema.fcl' if entity == 'schema' else sub / (entity + '.fcl')
    path.write_text(to_fhicl(db.read(entry.collection, entry.oid)))
"""


@pytest.fixture
def fake_tools(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("bulkloader", FAKE_BULKLOADER), ("bulkdownloader", FAKE_BULKDOWNLOADER)):
        (bin_dir / name).write_text(text % {"python": sys.executable})
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", "%s%s%s" % (bin_dir, os.pathsep, os.environ["PATH"]))
    return bin_dir


def test_conftoolp_backend_says_what_is_missing(tmp_path):
    if HAVE_CONFTOOLP:
        pytest.skip("conftoolp is importable here")
    with pytest.raises(ArtdaqDBError, match="conftoolp.*PYTHONPATH"):
        open_artdaqdb("filesystemdb://%s" % tmp_path, backend="conftoolp")


def test_tools_backend_says_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ArtdaqDBError, match="bulkloader and bulkdownloader on PATH"):
        open_artdaqdb("filesystemdb://%s" % tmp_path, backend="tools")


def test_tools_backend_plumbing(fake_tools, tmp_path, monkeypatch):
    uri = "filesystemdb://%s" % (tmp_path / "db")
    tools = open_artdaqdb(uri, backend="tools")
    result = tools.store(12, "demo2", FILES)
    assert result.version == "12/demo2" and set(result.stored) == {"metadata", "DataLogger1", "schema", "hashes"}
    native = open_artdaqdb(uri)
    assert native.runs() == [12] and native.latest(12).md5 == result.md5
    assert tools.store(12, "demo2", FILES).version is None
    out = tools.export(12, tmp_path / "out")
    expected = native.export(12, tmp_path / "native")
    assert sorted(p.name for p in out) == sorted(p.name for p in expected)
    for p in expected:
        assert (tmp_path / "out" / p.name).read_bytes() == p.read_bytes()
    assert check(native) == []
    with pytest.raises(ArtdaqDBError, match="bulkloader stores only first versions"):
        tools.store(12, "demo2", dict(FILES, **{"metadata.fcl": b"changed: 1\n"}))
    monkeypatch.setenv("FAKE_TOOL_SKIP", "DataLogger1")
    with pytest.raises(ArtdaqDBError, match="did not export DataLogger1"):
        tools.export(12, tmp_path / "out2")


def test_tools_failure_is_one_clear_error_without_credentials(fake_tools, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_TOOL_FAIL", "1")
    tools = open_artdaqdb("filesystemdb://%s" % (tmp_path / "db"), backend="tools")
    tools.uri = "filesystemdb://%s" % (tmp_path / "db")
    with pytest.raises(ArtdaqDBError, match=r"run 3: bulkloader exited 1: bulkloader: cannot open") as e:
        tools.store(3, "c", FILES)
    assert e.value.run == 3


@pytest.mark.skipif(not HAVE_TOOLS, reason="bulkloader/bulkdownloader (artdaq_database tools) not installed here")
def test_real_tools_round_trip(tmp_path):
    uri = "filesystemdb://%s" % (tmp_path / "db")
    tools = open_artdaqdb(uri, backend="tools")
    assert tools.store(12, "demo", FILES).version == "12/demo"
    native = open_artdaqdb(uri)
    assert native.runs() == [12] and check(native) == []
    out = {p.name: p.read_bytes() for p in tools.export(12, tmp_path / "out")}
    assert out == {p.name: p.read_bytes() for p in native.export(12, tmp_path / "native")}


@pytest.mark.skipif(not HAVE_CONFTOOLP, reason="the conftoolp SWIG module (artdaq_database) is not importable here")
def test_real_conftoolp_round_trip(tmp_path):
    uri = "filesystemdb://%s" % (tmp_path / "db")
    cpp = open_artdaqdb(uri, backend="conftoolp")
    first = cpp.store(12, "demo", FILES)
    assert first.version == "12/demo" and cpp.runs() == [12]
    native = open_artdaqdb(uri)
    assert native.latest(12).md5 == first.md5 and check(native) == []
    update = cpp.store(12, "demo", dict(FILES, **{"metadata.fcl": b"changed: 1\n"}))
    assert update.version == "12/demov1" and native.latest(12).version == "12/demov1"
    out = {p.name: p.read_bytes() for p in cpp.export(12, tmp_path / "out")}
    assert out == {p.name: p.read_bytes() for p in native.export(12, tmp_path / "native")}
    native_store = open_artdaqdb("filesystemdb://%s" % (tmp_path / "db2")).store(12, "demo", FILES)
    assert cpp.latest(12) is not None and native_store.version == "12/demo"
