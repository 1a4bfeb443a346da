"""The optional C++ backends: the real ones from ../shared/reference; the tools plumbing everywhere."""

import json
import os
import sys

import pytest

from conftest import need_reference
from rra.artdaqdb import ArtdaqDBError, open_artdaqdb
from rra.artdaqdb.check import check

FILES = {"metadata.fcl": b'config_name: "demo"\nrun_number: 12\n', "DataLogger1.fcl": b"daq: { a: 1 }\n"}

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


# There is no sshd here: this ssh records its argv and runs the remote command locally.
FAKE_SSH = """#!%(python)s
import json, os, subprocess, sys
with open(os.environ['FAKE_SSH_LOG'], 'a') as f:
    f.write(json.dumps(sys.argv) + '\\n')
assert sys.argv[1:4] == ['-o', 'BatchMode=yes', 'daq-host'], sys.argv
sys.exit(subprocess.run(['bash', '-c', sys.argv[4]]).returncode)
"""


@pytest.fixture
def fake_tools(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fakes = (("bulkloader", FAKE_BULKLOADER), ("bulkdownloader", FAKE_BULKDOWNLOADER), ("ssh", FAKE_SSH))
    for name, text in fakes:
        (bin_dir / name).write_text(text % {"python": sys.executable})
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", "%s%s%s" % (bin_dir, os.pathsep, os.environ["PATH"]))
    return bin_dir


def test_conftoolp_backend_says_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "conftoolp", None)  # not importable, even where it is installed
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


def over_recorded_ssh(tmp_path, monkeypatch):
    """(ssh log, remote temp dir, URI with a 'password', tools backend over ssh to daq-host)."""
    log, remote_tmp = tmp_path / "ssh.log", tmp_path / "remote-tmp"
    remote_tmp.mkdir()
    monkeypatch.setenv("FAKE_SSH_LOG", str(log))
    monkeypatch.setenv("TMPDIR", str(remote_tmp))
    uri = "filesystemdb://%s" % (tmp_path / "Secret-pw-db")
    return log, remote_tmp, uri, open_artdaqdb(uri, backend="tools", remote_host="daq-host")


def test_tools_over_ssh_keep_the_uri_out_of_every_argv(fake_tools, tmp_path, monkeypatch):
    """The URI (with a password, on a real site) reaches the remote tools on stdin; temp dirs: mktemp -d."""
    log, remote_tmp, uri, tools = over_recorded_ssh(tmp_path, monkeypatch)
    assert tools.store(12, "demo2", FILES).version == "12/demo2"
    out = {p.name: p.read_bytes() for p in tools.export(12, tmp_path / "out")}
    assert out == {p.name: p.read_bytes() for p in open_artdaqdb(uri).export(12, tmp_path / "native")}
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(calls) == 2
    for argv in calls:
        assert not any("Secret-pw" in a for a in argv), argv
        assert "mktemp -d" in argv[4] and "rra_bulk" in argv[4] and str(os.getpid()) not in argv[4]
    assert list(remote_tmp.iterdir()) == []  # removed on the remote side
    monkeypatch.setenv("FAKE_TOOL_FAIL", "1")
    with pytest.raises(ArtdaqDBError, match="run 13: bulkloader exited 1: bulkloader: cannot open filesys"):
        tools.store(13, "demo2", FILES)  # the remote tool got the URI, from stdin
    assert len(log.read_text().splitlines()) == 3 and list(remote_tmp.iterdir()) == []


def test_conftoolp_failures_are_redacted_at_the_one_boundary(tmp_path, monkeypatch):
    """Whatever the C++ echoes of the URI, its password never reaches a message (a stub: no real C++
    error shows the URI)."""
    from rra.artdaqdb import adapters

    uri = "mongodb://archiver:Pa55%2Fword@db-host:27017/run_records"

    class Api:
        def set_default_locale(self):
            pass

        def find_configurations(self, query):
            return False, (
                "Stack trace [3 frames]\n 1 lib.so(+0x1) [0x1]\n"
                "std::exception::what: ---- find BEGIN\n"
                "  cannot connect to %s (user archiver, password Pa55/word)\n"
                "---- find END\n" % uri
            )

    monkeypatch.setitem(sys.modules, "conftoolp", Api())
    db = adapters.ConftoolpDB(uri)
    with pytest.raises(ArtdaqDBError) as e:
        db.runs()
    text = str(e.value)
    assert "Pa55" not in text and "archiver:" not in text and "Stack trace" not in text
    assert text == (
        "artdaqDB mongodb://db-host:27017/run_records: conftoolp.find_configurations failed: "
        "cannot connect to mongodb://db-host:27017/run_records (user archiver, password ***)"
    )


@pytest.fixture
def reference_tools(monkeypatch):
    """The real bulkloader/bulkdownloader on PATH."""
    ref = need_reference("artdaq_database")
    monkeypatch.setenv("PATH", "%s%s%s" % (ref / "bin", os.pathsep, os.environ["PATH"]))
    return ref


@pytest.mark.reference
def test_real_tools_round_trip(reference_tools, tmp_path):
    uri = "filesystemdb://%s" % (tmp_path / "db")
    tools = open_artdaqdb(uri, backend="tools")
    assert tools.store(12, "demo", FILES).version == "12/demo"
    native = open_artdaqdb(uri)
    assert native.runs() == [12] and check(native) == []
    out = {p.name: p.read_bytes() for p in tools.export(12, tmp_path / "out")}
    assert out == {p.name: p.read_bytes() for p in native.export(12, tmp_path / "native")}


@pytest.mark.reference
def test_real_conftoolp_round_trip(reference_conftoolp, tmp_path):
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


@pytest.mark.reference
def test_real_conftoolp_abort_fails_the_run_alone(reference_conftoolp, tmp_path):
    """An @table:: splice aborts the C++ library: the store fails naming run and file, nothing is stored."""
    uri = "filesystemdb://%s" % (tmp_path / "db")
    cpp = open_artdaqdb(uri, backend="conftoolp")
    bad = dict(FILES, **{"bad.fcl": b"x: { y: 1 }\nz: { @table::x }\n"})
    with pytest.raises(ArtdaqDBError) as e:
        cpp.store(7, "demo", bad)
    assert e.value.run == 7 and e.value.file == "bad.fcl"
    assert "SIGABRT" in str(e.value) and "@table::x" in str(e.value) and "\n" not in str(e.value)
    assert open_artdaqdb(uri).runs() == []
    assert cpp.store(8, "demo", FILES).version == "8/demo" and cpp.runs() == [8]


@pytest.mark.reference
def test_real_bulkloader_failure_leaves_no_partial_run(reference_tools, tmp_path):
    """bulkloader stores every file it can parse and exits 1: rra takes them out again."""
    uri = "filesystemdb://%s" % (tmp_path / "db")
    tools = open_artdaqdb(uri, backend="tools")
    assert tools.store(6, "demo", FILES).version == "6/demo"
    bad = dict(FILES, **{"bad.fcl": b"x: { y: 1 }\nz: { @table::x }\n"})
    with pytest.raises(ArtdaqDBError) as e:
        tools.store(7, "demo", bad)
    assert e.value.run == 7 and e.value.file == "bad.fcl" and "@table::x" in str(e.value)
    native = open_artdaqdb(uri)
    assert native.runs() == [6] and check(native) == []
    assert tools.store(8, "demo", FILES).version == "8/demo" and native.runs() == [6, 8]


@pytest.mark.reference
def test_real_conftoolp_failure_is_one_line_without_the_password(reference_conftoolp):
    """The real C++ failure (MongoDB is compiled out of the reference build): no stack trace, no password."""
    db = open_artdaqdb("mongodb://archiver:Pa55word@127.0.0.1:9/run_records", backend="conftoolp")
    with pytest.raises(ArtdaqDBError) as e:
        db.runs()
    text = str(e.value)
    assert text == (
        "artdaqDB mongodb://127.0.0.1:9/run_records: conftoolp.find_configurations failed: "
        "MongoDB support is not compiled into this build"
    )


@pytest.mark.reference
def test_real_tools_over_ssh(reference_tools, tmp_path, monkeypatch):
    """The real bulkloader/bulkdownloader behind the recording ssh: same archive, no URI in any argv,
    and a file the C++ refuses fails the run alone, its partial store taken out again."""
    bin_dir = tmp_path / "ssh-bin"
    bin_dir.mkdir()
    (bin_dir / "ssh").write_text(FAKE_SSH % {"python": sys.executable})
    (bin_dir / "ssh").chmod(0o755)
    monkeypatch.setenv("PATH", "%s%s%s" % (bin_dir, os.pathsep, os.environ["PATH"]))
    log, remote_tmp, uri, tools = over_recorded_ssh(tmp_path, monkeypatch)
    assert tools.store(12, "demo", FILES).version == "12/demo"
    with pytest.raises(ArtdaqDBError) as e:
        tools.store(13, "demo", dict(FILES, **{"bad.fcl": b"z: { @table::x }\n"}))
    assert e.value.run == 13 and e.value.file == "bad.fcl"
    native = open_artdaqdb(uri)
    assert native.runs() == [12] and check(native) == []
    out = {p.name: p.read_bytes() for p in tools.export(12, tmp_path / "out")}
    assert out == {p.name: p.read_bytes() for p in native.export(12, tmp_path / "native")}
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(calls) == 3 and not any("Secret-pw" in a for argv in calls for a in argv)
    assert list(remote_tmp.iterdir()) == []


def test_a_password_holding_a_slash_is_kept_out_of_artdaqdb_errors():
    """URL redaction stops at a '/' in the password; the boundary also removes the password itself."""
    e = ArtdaqDBError("cannot connect with Pa/ss", run=1, uri="mongodb://arch:Pa/ss@db-host/run_records")
    assert "Pa/ss" not in str(e) and "Pa/ss" not in e.uri and "run 1" in str(e)


@pytest.mark.reference
def test_a_bulkloader_store_cut_short_is_rolled_back_by_the_next_sweep(reference_tools, tmp_path):
    """The writer died during bulkloader (kill -9, power cut): its intent names the configuration,
    and the next archiver run takes out what bulkloader had stored of it."""
    import subprocess
    from rra.artdaqdb.filesystem import INTENT

    uri = "filesystemdb://%s" % (tmp_path / "db")
    tools = open_artdaqdb(uri, backend="tools")
    assert tools.store(6, "demo", FILES).version == "6/demo"
    intent = tools.reader._begin({}, [], "7/demo")
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )  # a pid that no longer runs
    own, other = "%s%d." % (INTENT, os.getpid()), "%s%s." % (INTENT, gone.stdout.strip())
    dead = intent.with_name(intent.name.replace(own, other))
    intent.rename(dead)
    d = tmp_path / "run7"
    d.mkdir()
    for name, data in FILES.items():
        (d / name).write_bytes(data)
    (d / "schema.fcl").write_bytes(tools.schema[0])
    subprocess.run(
        ["bulkloader", "-r", "7", "-c", "demo", "-t", "1", "-p", str(d)],
        check=True,
        capture_output=True,
        env=dict(os.environ, ARTDAQ_DATABASE_URI=uri),
    )
    native = open_artdaqdb(uri)
    assert native.runs() == [6, 7]  # complete as far as a reader can tell, but its writer never said so
    assert any("unfinished store of a writer that is gone" in p for p in check(native))
    assert native.sweep() == ["rolled back an unfinished store of 3 documents (%s)" % dead.name]
    assert native.runs() == [6] and check(native) == [] and not dead.exists()
