"""rra and the real C++ artdaq_database (../shared/reference/artdaq_database) on one archive.

Byte for byte both ways (rra stores, bulkdownloader exports; bulkloader stores, rra reads and
exports), the conftoolp and tools backends through the real doit engine, a C++ abort that fails
one run alone, and what both sides do with a file removed from a record.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, doit, make_records, stop_run, write_config, need_reference
from rra.artdaqdb import open_artdaqdb
from rra.artdaqdb.check import check
from rra.fhiclize import fhiclize_run

EXAMPLES = ROOT / "examples" / "run_records"
SCHEMA = ROOT / "rra" / "artdaqdb" / "schema.fcl"
BAD = b"x: { y: 1 }\nz: { @table::x }\n"  # aborts the C++ FHiCL parser


@pytest.fixture
def ref():
    return need_reference("artdaq_database")


def tool(ref, name, uri, run, config, path, check_rc=True):
    done = subprocess.run(
        [str(ref / "bin" / name), "-r", str(run), "-c", config, "-t", "1", "-p", str(path)],
        capture_output=True,
        text=True,
        env=dict(os.environ, ARTDAQ_DATABASE_URI=uri),
    )
    assert not check_rc or done.returncode == 0, done.stdout + done.stderr
    return done


def cpp_export(ref, uri, run, config, out):
    """{file name: bytes} as bulkdownloader exports a run (schema.fcl + <config minus digits>/*.fcl)."""
    tool(ref, "bulkdownloader", uri, run, config, out)
    files = sorted(Path(out, re.sub(r"\d+$", "", config)).glob("*.fcl")) + [Path(out, "schema.fcl")]
    return {p.name: p.read_bytes() for p in files}


def rra_export(db, run):
    return {name: text.encode("utf-8", "surrogateescape") for name, text in db.exported(run).items()}


def config_of(db, run):
    return db.latest(run).configuration.split("/", 1)[1]


def fhicl_dir(records, run, out):
    """A run's FHiCL set as rra makes it, plus schema.fcl, in a directory for bulkloader."""
    result = fhiclize_run(Path(records) / str(run))
    out.mkdir(parents=True)
    for name, data in result.files.items():
        (out / name).write_bytes(data)
    shutil.copyfile(str(SCHEMA), str(out / "schema.fcl"))
    return result.config_name.replace("/", "_")


@pytest.mark.reference
def test_what_rra_stores_bulkdownloader_exports_byte_for_byte(ref, tmp_path):
    records = make_records(tmp_path / "records", 3000, 3, "--running", 1)
    cfg = write_config(tmp_path, records)
    assert doit(cfg, "import").returncode == 0
    stop_run(records, 3002)  # an update: 3002/<config>v1 with RunHistory2 and metadata
    assert doit(cfg, "import").returncode == 0
    uri = "filesystemdb://%s" % (tmp_path / "work" / "artdaqdb")
    db = open_artdaqdb(uri)
    assert db.latest(3002).version.endswith("v1")
    for n in range(12):  # past v9, where text and number order part (v9, v90, v91)
        db.store(3100, "many00001", {"a.fcl": b"a: %d\n" % n, "b.fcl": b"b: %d\n" % (n // 5)})
    for run in (3000, 3001, 3002, 3100):
        cpp = cpp_export(ref, uri, run, config_of(db, run), tmp_path / ("cpp%d" % run))
        assert cpp == rra_export(db, run), run
    assert rra_export(db, 3100)["a.fcl"] == b"\na: 11 \n"


@pytest.mark.reference
def test_what_bulkloader_stores_rra_lists_reads_and_exports_byte_for_byte(ref, tmp_path):
    uri = "filesystemdb://%s" % (tmp_path / "db")
    configs = {}
    for run in range(1000, 1005):
        configs[run] = fhicl_dir(EXAMPLES, run, tmp_path / "fcl" / str(run))
        tool(ref, "bulkloader", uri, run, configs[run], tmp_path / "fcl" / str(run))
    db = open_artdaqdb(uri)
    assert db.runs() == list(range(1000, 1005)) and check(db) == []
    for run, config in configs.items():
        state = db.latest(run)
        assert state.version == state.configuration == "%d/%s" % (run, config)
        assert "hashes" not in state.entities and set(state.md5.values()) == {None}  # bulkloader keeps none
        assert rra_export(db, run) == cpp_export(ref, uri, run, config, tmp_path / ("cpp%d" % run))
    # rra adds an update on top of the C++ run: only what changed, and the C++ exports it as rra does
    files = {p.name: p.read_bytes() for p in (tmp_path / "fcl" / "1001").glob("*.fcl") if p.name != "schema.fcl"}
    files["RunHistory2.fcl"] += b'\nDAQInterface_stop_time: "Mon Jan  1 00:00:00 UTC 2024"'
    result = db.store(1001, configs[1001], files)
    assert result.version == "1001/%sv1" % configs[1001]
    assert set(result.stored) == {"RunHistory2", "schema", "hashes"}
    assert rra_export(db, 1001) == cpp_export(ref, uri, 1001, configs[1001], tmp_path / "cpp-update")
    assert db.store(1001, configs[1001], files).version is None and check(db) == []


def backend_config(tmp_path, records, backend):
    cfg = write_config(tmp_path, records)
    text = cfg.read_text().replace("artdaq_db:\n", "artdaq_db:\n  backend: %s\n" % backend)
    cfg.write_text(text)
    return cfg


def backend_env(ref, backend):
    """What a site sets up for the C++ backends: the tools on PATH, conftoolp on PYTHONPATH."""
    if backend == "tools":
        return {"PATH": "%s%s%s" % (ref / "bin", os.pathsep, os.environ["PATH"])}
    paths = (str(ref / "python"), os.environ.get("PYTHONPATH"))
    return {"PYTHONPATH": os.pathsep.join(p for p in paths if p)}


@pytest.mark.reference
@pytest.mark.parametrize("backend", ["conftoolp", "tools"])
def test_cpp_backends_archive_the_example_runs_through_doit(ref, tmp_path, backend):
    records = tmp_path / "records"
    shutil.copytree(str(EXAMPLES), str(records))
    cfg = backend_config(tmp_path, records, backend)
    env = backend_env(ref, backend)
    first = doit(cfg, env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "validate: 5 done" in first.stdout
    again = doit(cfg, env=env)
    assert again.returncode == 0 and "FAILED" not in again.stdout + again.stderr
    uri = "filesystemdb://%s" % (tmp_path / "work" / "artdaqdb")
    native = open_artdaqdb(uri)
    assert native.runs() == [1000, 1001, 1002, 1003, 1004] and check(native) == []
    for run in native.runs():
        blob = (tmp_path / "work" / "runs" / str(run) / "blob.txt").read_bytes()
        exported = cpp_export(ref, uri, run, config_of(native, run), tmp_path / ("cpp%d" % run))
        assert exported == rra_export(native, run)
        for name, data in exported.items():  # the blob holds what the C++ exports
            assert b"#####\n%s:\n#####\n%s" % (name.encode(), data) in blob, (run, name)


@pytest.mark.reference
@pytest.mark.parametrize("backend", ["conftoolp", "tools"])
def test_a_cpp_abort_fails_that_run_alone_with_one_line(ref, tmp_path, backend):
    records = make_records(tmp_path / "records", 4000, 3)
    (records / "4001" / "Broken1.fcl").write_bytes(BAD)
    cfg = backend_config(tmp_path, records, backend)
    out = doit(cfg, env=backend_env(ref, backend))
    text = out.stdout + out.stderr
    assert out.returncode == 1, text
    failed = [line for line in text.splitlines() if "FAILED" in line]
    assert len(failed) == 1 and "artdaqdb:4001" in failed[0] and "Broken1.fcl" in failed[0], failed
    assert "Traceback" not in text and "Stack trace" not in text
    native = open_artdaqdb("filesystemdb://%s" % (tmp_path / "work" / "artdaqdb"))
    assert native.runs() == [4000, 4002] and check(native) == []  # nothing of 4001 stored
    for run in (4000, 4002):
        assert (tmp_path / "work" / "runs" / str(run) / "validated.md5").exists()


@pytest.mark.reference
def test_a_removed_file_stays_in_the_cpp_export_as_in_rra(ref, tmp_path):
    """bulkloader a run, remove a file, store it again, bulkdownloader: the removed file is still exported."""
    uri = "filesystemdb://%s" % (tmp_path / "db")
    d = tmp_path / "fcl"
    config = fhicl_dir(EXAMPLES, 1001, d)
    tool(ref, "bulkloader", uri, 1001, config, d)
    ranks = (d / "ranks.fcl").read_bytes()
    (d / "ranks.fcl").unlink()
    (d / "metadata.fcl").write_bytes((d / "metadata.fcl").read_bytes() + b"\nextra: 1\n")
    tool(ref, "bulkloader", uri, 1001, config, d)
    cpp = cpp_export(ref, uri, 1001, config, tmp_path / "cpp")
    assert "ranks.fcl" in cpp
    # (metadata is stored twice under one version: which one the C++ exports depends on the random oids)
    db = open_artdaqdb(uri)  # rra reads that archive as the C++ does, whichever it is
    assert rra_export(db, 1001) == cpp
    native = open_artdaqdb("filesystemdb://%s" % (tmp_path / "db2"))  # and rra's own archive does the same
    files = {p.name: p.read_bytes() for p in d.glob("*.fcl") if p.name != "schema.fcl"}
    native.store(1001, config, dict(files, **{"ranks.fcl": ranks}))
    result = native.store(1001, config, files)
    assert result.kept == ("ranks",) and "ranks.fcl" in rra_export(native, 1001)
    assert rra_export(native, 1001) == cpp_export(ref, native.uri, 1001, config, tmp_path / "cpp2")


def test_a_file_removed_from_a_record_is_kept_and_named_in_a_warning(tmp_path):
    """(Without ../shared: the example run records.)"""
    records = tmp_path / "records"
    for run in (5000, 5001):
        shutil.copytree(str(EXAMPLES / str(run - 4000)), str(records / str(run)))
    cfg = write_config(tmp_path, records)
    assert doit(cfg).returncode == 0
    blob = (tmp_path / "work" / "runs" / "5001" / "blob.txt").read_bytes()
    victim = records / "5001" / "component01.fcl"
    os.chmod(str(records / "5001"), 0o755)
    victim.unlink()
    out = doit(cfg)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text
    warned = [line for line in text.splitlines() if "no longer in the run record" in line]
    assert len(warned) == 1 and "[run 5001]" in warned[0] and victim.name in warned[0], text
    assert (tmp_path / "work" / "runs" / "5001" / "blob.txt").read_bytes() == blob  # nothing lost
    db = open_artdaqdb("filesystemdb://%s" % (tmp_path / "work" / "artdaqdb"))
    assert db.latest(5001).version == db.latest(5001).configuration  # no new version for a removal alone
    assert doit(cfg).returncode == 0
    # the work dir lost: recover finds both runs archived as they are, the kept file is no difference
    shutil.rmtree(str(tmp_path / "work" / "runs"))
    (tmp_path / "work" / ".doit.db").unlink()
    out = subprocess.run(
        [sys.executable, "-m", "rra.cli", "--config", str(cfg), "recover"], capture_output=True, text=True
    )
    assert out.returncode == 0 and "2 runs verified in UconDB: 5000-5001" in out.stdout, out.stdout + out.stderr


@pytest.mark.reference
@pytest.mark.parametrize("backend", ["native", "conftoolp", "tools"])
def test_a_bulkloader_run_taken_over_unchanged_gets_no_new_version(reference_conftoolp, tmp_path, monkeypatch, backend):
    """bulkloader keeps no md5s: each backend compares documents, so the same files store nothing."""
    ref = reference_conftoolp
    monkeypatch.setenv("PATH", "%s%s%s" % (ref / "bin", os.pathsep, os.environ["PATH"]))
    uri = "filesystemdb://%s" % (tmp_path / "db")
    d = tmp_path / "fcl"
    config = fhicl_dir(EXAMPLES, 1002, d)
    tool(ref, "bulkloader", uri, 1002, config, d)
    db = open_artdaqdb(uri, backend=backend)
    files = {p.name: p.read_bytes() for p in d.glob("*.fcl") if p.name != "schema.fcl"}
    assert db.store(1002, config, files).version is None
    if backend != "tools":  # (bulkloader stores no updates)
        files["RunHistory2.fcl"] += b'\nDAQInterface_stop_time: "x"'
        assert set(db.store(1002, config, files).stored) == {"RunHistory2", "schema", "hashes"}


@pytest.mark.reference
def test_tools_over_ssh_through_doit_keep_the_uri_out_of_every_argv(ref, tmp_path):
    """remote_host with the real tools behind an ssh that records its argv and runs the command here."""
    from test_artdaqdb_adapters import FAKE_SSH

    records = tmp_path / "records"
    for run in (1001, 1004):
        shutil.copytree(str(EXAMPLES / str(run)), str(records / str(run)))
    cfg = backend_config(tmp_path, records, "tools")
    cfg.write_text(
        cfg.read_text()
        .replace("artdaq_db:\n", "artdaq_db:\n  remote_host: daq-host\n")
        .replace("${app.work_dir}/artdaqdb", "${app.work_dir}/Secret-pw-db")
    )
    bin_dir, log, remote_tmp = tmp_path / "ssh-bin", tmp_path / "ssh.log", tmp_path / "remote-tmp"
    bin_dir.mkdir()
    remote_tmp.mkdir()
    (bin_dir / "ssh").write_text(FAKE_SSH % {"python": sys.executable})
    (bin_dir / "ssh").chmod(0o755)
    env = {
        "PATH": os.pathsep.join((str(bin_dir), str(ref / "bin"), os.environ["PATH"])),
        "FAKE_SSH_LOG": str(log),
        "TMPDIR": str(remote_tmp),
    }
    out = doit(cfg, env=env)
    assert out.returncode == 0 and "validate: 2 done" in out.stdout, out.stdout + out.stderr
    argvs = [line for line in log.read_text().splitlines()]
    assert len(argvs) >= 4 and not any("Secret-pw" in a for a in argvs)  # 2 stores, 2+ exports
    assert list(remote_tmp.iterdir()) == []
    assert open_artdaqdb("filesystemdb://%s" % (tmp_path / "work" / "Secret-pw-db")).runs() == [1001, 1004]
