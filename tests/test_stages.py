"""Each stage's action, called in this process on real files, a real filesystem artdaqDB and the
embedded UconDB (or the test server where HTTP matters): what every stage writes, adopts,
replaces and refuses, without doit. What only doit shows (the graph, signals, workers) is in
test_pipeline, test_graph and test_operations."""

import hashlib
import io
import json
import logging
import os

import pytest
from doit.exceptions import TaskFailed

import rules
from conftest import UCON_PASSWORD, make_records, stop_run, write_config
from rra import actions, config, discovery, fhiclset
from rra.archive import Archive
from rra.stages import NAMES, STAGES, artdaqdb, blob, files, fhiclize, ucondb, validate
from rra.stages.validate import ValidationError


def archive_for(tmp_path, records, **kw):
    return opened(write_config(tmp_path, records, **kw))


def opened(cfg):
    """The config's archive, its work dir made (as dodo.py makes it)."""
    archive = Archive(config.load(cfg, env={}))
    archive.work_dir.mkdir(parents=True, exist_ok=True)
    return archive


def build(archive, run, until="validate", start="fhiclize"):
    """Run the chain of run in order, as doit would, from start up to until."""
    layout, record = archive.layout, str(archive.records_dir / str(run))
    actions_of = {
        "fhiclize": lambda: fhiclset.build(run, record, layout.fhicl_dir(run), archive.generate),
        "artdaqdb": lambda: artdaqdb.store(archive, run),
        "blob": lambda: blob.pack(archive, run),
        "ucondb": lambda: ucondb.upload(archive, run),
        "validate": lambda: validate.validate(archive, run, discovery.signature(record)),
    }
    for name in NAMES[NAMES.index(start) : NAMES.index(until) + 1]:
        actions_of[name]()


@pytest.fixture
def two_runs(tmp_path):
    records = make_records(tmp_path / "records", 500, 2, "--lite", "--running", 1)
    return archive_for(tmp_path, records), records


def test_the_chain_writes_each_target_in_turn_with_what_the_next_stage_trusts(two_runs):
    archive, records = two_runs
    layout = archive.layout
    for stage in NAMES[:5]:
        build(archive, 500, stage, start=stage)
        done = [s.NAME for s in STAGES[:5] if s.target(layout, 500).exists()]
        assert done == list(NAMES[: NAMES.index(stage) + 1])  # this stage's target, none later
    manifest = fhiclset.read_manifest(layout.fhicl_dir(500))
    stored = json.loads(layout.artdaqdb_marker(500).read_text())
    assert stored["version"] == "500/%s" % manifest["config_name"]
    assert stored["entities"] == artdaqdb.entity_md5s(manifest)
    assert stored["database_uri"] == archive.artdaq.uri
    data = layout.blob(500).read_bytes()
    uploaded = json.loads(layout.ucondb_marker(500).read_text())
    assert uploaded["md5"] == hashlib.md5(data).hexdigest() and uploaded["adopted"] is False
    assert layout.validated(500).read_text() == "%s  blob.txt\nversion_id %s\n" % (
        uploaded["md5"],
        uploaded["version_id"],
    )
    # sealed: the validation record carries the record's signature
    assert discovery.is_sealed(str(records / "500"), str(layout.validated(500)))


def test_an_unchanged_run_is_adopted_and_a_stop_time_replaces_the_version(two_runs):
    archive, records = two_runs
    build(archive, 501)
    first = json.loads(archive.layout.ucondb_marker(501).read_text())
    ucondb.upload(archive, 501)  # the same blob again: nothing uploaded
    again = json.loads(archive.layout.ucondb_marker(501).read_text())
    assert again["adopted"] is True and again["version_id"] == first["version_id"]
    stop_run(records, 501)
    build(archive, 501)
    after = json.loads(archive.layout.ucondb_marker(501).read_text())
    assert after["replaced"] == first["version_id"] and after["version_id"] != first["version_id"]
    assert "metadata.fcl" in after["differing"]
    assert len([m for m in archive.ucondb().versions() if "501" in m.tags]) == 2
    assert archive.artdaqdb().latest(501).version.endswith("v1")  # one new artdaqDB version


def test_validate_names_what_differs_and_leaves_the_run_unsealed(two_runs):
    archive, _ = two_runs
    build(archive, 500)
    blob_path = archive.layout.blob(500)
    blob_path.write_bytes(blob_path.read_bytes().replace(b"config_name", b"config_nane"))
    with pytest.raises(ValidationError, match=r"key 500: .*content differs from blob.txt in metadata.fcl"):
        validate.validate(archive, 500)
    assert not archive.layout.validated(500).exists()


def test_a_store_batch_stores_every_ready_partner_and_writes_their_markers(tmp_path, caplog):
    records = make_records(tmp_path / "records", 600, 3, "--lite")
    archive = archive_for(tmp_path, records)
    for run in (600, 601, 602):
        build(archive, run, "fhiclize")
    batch = (600, 601, 602)
    dirs = {r: str(records / str(r)) for r in batch}
    with caplog.at_level(logging.INFO, logger="rra"):
        artdaqdb.store(archive, 601, batch, dirs)
        artdaqdb.store(archive, 600, batch, dirs)  # a partner's own task: its marker is current
    assert all(archive.layout.artdaqdb_marker(r).exists() for r in batch)
    assert archive.artdaqdb().runs() == [600, 601, 602]
    assert "[run 600] [artdaqdb] stored as 600/" in caplog.text and "by another task of its batch" in caplog.text


def test_run_step_makes_an_expected_error_one_line_and_lets_a_bug_through(caplog):
    def broken(path):
        open(path)

    with caplog.at_level(logging.ERROR, logger="rra"):
        failed = actions.run_step("blob", 7, broken, "/nonexistent/blob.txt")
    assert isinstance(failed, TaskFailed)
    assert str(failed.message).startswith("[run 7] [blob] ") and "/nonexistent/blob.txt" in failed.message
    assert caplog.records[-1].getMessage() == failed.message
    with pytest.raises(ZeroDivisionError):
        actions.run_step("blob", 7, lambda: 1 / 0)


def test_the_registry_becomes_one_task_per_stage_and_run_and_sealed_runs_none(two_runs):
    archive, _ = two_runs
    counts = {}
    names = [t["name"] if "name" in t else None for t in rules.tasks(archive, counts=counts)]
    named = ["%s:%s" % (t["basename"], t["name"]) for t in rules.tasks(archive) if t.get("name")]
    assert named == ["%s:%d" % (s, r) for s in NAMES[:5] for r in (500, 501)]  # no files stage here
    assert counts == {"runs": 2, "sealed": 0, "deferred": 0, "sealed_runs": set()} and names
    build(archive, 500)
    named = ["%s:%s" % (t["basename"], t["name"]) for t in rules.tasks(archive) if t.get("name")]
    assert named == ["%s:501" % s for s in NAMES[:5]]  # 500 is sealed: no task loaded
    task = next(t for t in rules.tasks(archive, forced={500}) if t.get("name") == "500" and t["basename"] == "ucondb")
    assert task["file_dep"] == [str(blob.target(archive.layout, 500))]
    assert task["targets"] == [str(ucondb.target(archive.layout, 500))]


def test_the_archive_opens_each_database_once_and_reads_settings_not_keys(two_runs):
    archive, _ = two_runs
    assert archive.artdaqdb() is archive.artdaqdb()
    assert archive.ucondb() is archive.ucondb() and archive.ucondb("other") is not archive.ucondb()
    assert archive.ucon.folder == "test01" and archive.ucon.object == "configuration"
    assert archive.listed() is None
    assert archive.take_listing() == {} and archive.listed() == {}
    assert "writer_password" not in repr(archive.ucon)  # a secret never printed
    assert archive.stage_names == NAMES[:5]


def test_the_files_stage_keeps_the_record_as_written_and_recover_finds_it(tmp_path):
    records = make_records(tmp_path / "records", 700, 1, "--lite")
    cfg = write_config(tmp_path, records)
    with open(cfg, "a") as f:
        f.write("  files_object: run_record_files\n")
    archive = opened(cfg)
    assert archive.stage_names == NAMES
    record = str(records / "700")
    files.keep(archive, 700, record, discovery.signature(record))
    marker = json.loads(files.target(archive.layout, 700).read_text())
    assert sorted(marker["files"]) == sorted(os.listdir(record))
    assert files.current(record, str(files.target(archive.layout, 700)))
    os.unlink(files.target(archive.layout, 700))
    assert files.recover(archive, 700, record)  # UconDB holds it: the marker comes back
    assert json.loads(files.target(archive.layout, 700).read_text())["version_id"] == marker["version_id"]


def test_an_upload_refused_by_the_server_trips_the_breaker_for_the_whole_invocation(tmp_path, server):
    records = make_records(tmp_path / "records", 800, 2, "--lite")
    archive = archive_for(tmp_path, records, ucon=(server.url, "writer", "wrong-" + UCON_PASSWORD))
    build(archive, 800, "blob")
    build(archive, 801, "blob")
    failed = actions.run_step("ucondb", 800, ucondb.upload, archive, 800)
    assert isinstance(failed, TaskFailed) and "[run 800] [ucondb]" in failed.message
    posts = server.count("POST")
    held = actions.run_step("ucondb", 801, ucondb.upload, archive, 801)
    assert isinstance(held, TaskFailed) and server.count("POST") == posts  # held back: no request
    assert not archive.layout.ucondb_marker(801).exists()
    assert "wrong-" not in failed.message + held.message


def test_fhiclize_task_of_an_unreadable_record_fails_alone_with_the_reason():
    rec = discovery.RunRecord(run=9, path=None, error="metadata.txt: not UTF-8")
    task = fhiclize.task(None, rec)
    assert task["uptodate"] == [False]
    func, args = task["actions"][0]
    out = func(*args)
    assert isinstance(out, TaskFailed) and out.message == "[run 9] [fhiclize] metadata.txt: not UTF-8"


def test_the_reporter_reports_and_leaves_failure_records_and_seals_to_outcomes(two_runs):
    from doit.exceptions import TaskFailed as Failed
    from doit.task import Task

    from rra import reporter

    archive, records = two_runs
    build(archive, 500)
    out = io.StringIO()
    rep = reporter.for_archive(archive, {"runs": 2, "sealed": 0})(out, {})
    ok, bad = Task("ucondb:500", None), Task("blob:501", None)
    for task in (ok, bad):
        rep.execute_task(task)
    rep.add_success(ok)
    rep.add_failure(bad, Failed("[run 501] [blob] artdaqDB holds no run 501"))
    record = json.loads(archive.layout.failure(501, "blob").read_text())
    assert record["error"] == "[run 501] [blob] artdaqDB holds no run 501"
    assert ".  ucondb:500\n" in out.getvalue() and "FAILED blob:501: [run 501] [blob]" in out.getvalue()
    assert rep.uploads["uploaded"] == [500]
    rep.add_success(bad)  # the next success clears the record
    assert not archive.layout.failure(501, "blob").exists()


def test_recover_verifies_what_the_databases_hold_and_plans_the_rest(two_runs):
    from rra import recover

    archive, _ = two_runs
    build(archive, 500)
    build(archive, 501, "artdaqdb")
    out = recover.recover(archive, dry_run=True)
    assert out.imported == [500, 501] and out.migrated == [500] and out.to_migrate == [501]
    assert out.plans[501].reason() == "UconDB has no such key: uploaded"
    lines = recover.summary(out, archive, dry_run=True)
    assert lines[0] == "2 runs would be verified in artdaqDB: 500-501"
