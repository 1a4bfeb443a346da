"""The whole chain, run record -> fhicl -> artdaqDB -> blob -> UconDB -> validation, on real doit."""

import hashlib
import json
import shutil


from conftest import UCON_PASSWORD, DATA, doit, make_records, stop_run, write_config
from rra.artdaqdb import open_artdaqdb, parse_timestamp
from rra.blob import pack, stamp, unpack
from rra.ucondb import open_ucondb

PASSWORD = UCON_PASSWORD


def executed(out):
    return sorted(line[3:].strip() for line in out.stdout.splitlines() if line.startswith(".  "))


def run_dir(tmp_path, run):
    return tmp_path / "work" / "runs" / str(run)


def ucon_versions(tmp_path):
    db = open_ucondb("sqlite://%s" % (tmp_path / "work" / "ucondb.sqlite"), "test01", "configuration")
    return db, db.versions()


def test_end_to_end_embedded_and_stop_time_update(tmp_path):
    records = make_records(tmp_path / "records", 1000, 4, "--running", 1)
    cfg = write_config(tmp_path, records)
    first = doit(cfg)
    assert first.returncode == 0, first.stdout + first.stderr
    for run in range(1000, 1004):
        validated = (run_dir(tmp_path, run) / "validated.md5").read_text()
        blob = (run_dir(tmp_path, run) / "blob.txt").read_bytes()
        assert validated.startswith(hashlib.md5(blob).hexdigest() + "  blob.txt\n")
    assert "validate: 4 done" in first.stdout

    second = doit(cfg)
    assert second.returncode == 0 and executed(second) == []

    db, before = ucon_versions(tmp_path)
    old_blob = (run_dir(tmp_path, 1003) / "blob.txt").read_bytes()
    stop_run(records, 1003)
    third = doit(cfg)
    assert third.returncode == 0, third.stdout + third.stderr
    assert executed(third) == ["%s:1003" % s for s in ("artdaqdb", "blob", "fhiclize", "ucondb", "validate")]
    adb = open_artdaqdb("filesystemdb://%s" % (tmp_path / "work" / "artdaqdb"))
    assert adb.runs() == [1000, 1001, 1002, 1003]
    assert adb.latest(1003).version.endswith("v1")  # exactly one new artdaqDB version
    db, after = ucon_versions(tmp_path)
    assert len(after) == len(before) + 1  # exactly one new UconDB version, by override
    new_blob, meta = db.get("1003")
    assert b"DAQInterface_stop_time" in new_blob and meta.version_id == after[0].version_id
    old_id = next(m.version_id for m in before if m.key == "1003")
    assert db.get_version(old_id)[0] == old_blob  # the old version is still readable by id
    assert json.loads((run_dir(tmp_path, 1003) / "ucondb.json").read_text())["version_id"] == meta.version_id


def test_blob_is_deterministic(tmp_path):
    records = make_records(tmp_path / "records", 1100, 2)
    cfg = write_config(tmp_path, records)
    assert doit(cfg).returncode == 0
    blob = run_dir(tmp_path, 1100) / "blob.txt"
    first = blob.read_bytes()
    out = doit(cfg, "-a", "blob:1100")
    assert out.returncode == 0 and "blob:1100" in executed(out)  # -a forces its chain too
    assert blob.read_bytes() == first
    marker = json.loads((run_dir(tmp_path, 1100) / "artdaqdb.json").read_text())
    assert unpack(first)[1] == stamp(parse_timestamp(marker["stored_at"]))


def test_end_to_end_over_http_with_digest_auth(tmp_path, server):
    records = make_records(tmp_path / "records", 1200, 3)
    cfg = write_config(tmp_path, records, ucon=(server.url, "writer", PASSWORD))
    out = doit(cfg)
    assert out.returncode == 0, out.stdout + out.stderr
    assert PASSWORD not in out.stdout + out.stderr
    assert PASSWORD not in (tmp_path / "work" / "archiver.log").read_text()
    posts = server.count("POST")
    assert 3 <= posts <= 6  # one upload per run (plus digest challenges)
    client = open_ucondb(server.url, "test01", "configuration")
    assert client.keys() == ["1200", "1201", "1202"]
    requests_before = server.count()
    assert executed(doit(cfg)) == []
    assert server.count() == requests_before  # a no-op talks to nobody


def test_bad_password_is_one_clear_line_and_stops_sending(tmp_path, server):
    """The first 401 trips the breaker: one FAILED line, the other runs wait, nothing more is sent."""
    records = make_records(tmp_path / "records", 1300, 3)
    cfg = write_config(tmp_path, records, ucon=(server.url, "writer", "wrong-Pass-77"))
    out = doit(cfg)
    assert out.returncode == 1
    fails = [line for line in out.stdout.splitlines() if line.startswith("FAILED")]
    assert [f.split(":")[0] + ":" + f.split(":")[1] for f in fails] == ["FAILED ucondb:1300"]
    assert "writer" in fails[0] and "401" in fails[0] and "folder test01" in fails[0]
    assert "ucondb:   1 failed, 2 held back" in out.stdout
    assert "UconDB: 401 Unauthorized" in out.stdout and "waits for the next invocation" in out.stdout
    assert server.count("POST") <= 2  # one upload and its digest challenge, then silence
    assert "wrong-Pass-77" not in out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr
    assert "validate: 3 blocked" in out.stdout
    assert all((tmp_path / "work" / "runs" / str(r) / "blob.txt").exists() for r in (1300, 1301, 1302))
    fixed = write_config(tmp_path, records, ucon=(server.url, "writer", PASSWORD))
    again = doit(fixed)  # the next invocation sends again
    assert again.returncode == 0, again.stdout + again.stderr
    assert "validate: 3 done" in again.stdout


def test_a_server_that_is_down_is_one_line(tmp_path):
    """Pre-flight: a UconDB that does not answer is said once; imports go on; exit 1."""
    records = make_records(tmp_path / "records", 1310, 3)
    cfg = write_config(tmp_path, records, ucon=("http://127.0.0.1:9/app", "writer", PASSWORD))
    out = doit(cfg)
    assert out.returncode == 1
    assert [line for line in out.stdout.splitlines() if line.startswith("FAILED")] == []
    assert out.stderr.count("ERROR") == 1 and "ERROR UconDB: GET failed: cannot reach UconDB" in out.stderr
    assert "ucondb:   3 held back" in out.stdout
    adb = open_artdaqdb("filesystemdb://%s" % (tmp_path / "work" / "artdaqdb"))
    assert adb.runs() == [1310, 1311, 1312]  # imported meanwhile


def legacy_like(blob):
    """What the legacy archiver in use_tools mode uploaded: another minute, no hashes.fcl."""
    run, _, files = unpack(blob)
    files.pop("hashes.fcl", None)
    return pack(run, files, "Mar 01 10:00")


def test_switching_from_legacy_uploads_nothing_unchanged(tmp_path, server):
    """Blobs the legacy archiver uploaded (other packing minute, no hashes) are adopted."""
    records = tmp_path / "records"
    shutil.copytree(DATA / "golden" / "fhiclize" / "run_records", records)
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    assert doit(write_config(earlier, records), "blob").returncode == 0
    client = open_ucondb(server.url, "test01", "configuration", user="writer", password=PASSWORD)
    runs = sorted(int(p.name) for p in records.iterdir())
    for run in runs:
        client.put(str(run), legacy_like((run_dir(earlier, run) / "blob.txt").read_bytes()), tags=[str(run)])
    posts = server.count("POST")
    out = doit(write_config(tmp_path, records, ucon=(server.url, "writer", PASSWORD)))
    assert out.returncode == 0, out.stdout + out.stderr
    assert server.count("POST") == posts, "re-uploaded a run the legacy archiver already stored"
    for run in runs:
        marker = json.loads((run_dir(tmp_path, run) / "ucondb.json").read_text())
        assert marker["adopted"] is True
        assert (run_dir(tmp_path, run) / "validated.md5").exists()


def test_legacy_api_mode_blobs_missing_files_are_completed(tmp_path, server):
    """The legacy API path dropped files no schema rule matched: those runs are re-uploaded."""
    legacy = DATA / "golden" / "artdaqdb" / "legacy_pipeline" / "blobs"
    client = open_ucondb(server.url, "test01", "configuration", user="writer", password=PASSWORD)
    old = {}
    for path in sorted(legacy.iterdir()):
        run = unpack(path.read_bytes())[0]
        old[run] = client.put(str(run), path.read_bytes(), tags=[str(run)]).version_id
    records = tmp_path / "records"
    shutil.copytree(DATA / "golden" / "fhiclize" / "run_records", records)
    out = doit(write_config(tmp_path, records, ucon=(server.url, "writer", PASSWORD)))
    assert out.returncode == 0, out.stdout + out.stderr
    log = (tmp_path / "work" / "archiver.log").read_text()
    for run, version in old.items():
        marker = json.loads((run_dir(tmp_path, run) / "ucondb.json").read_text())
        assert "[run %d] [ucondb] replaced version %s by %s" % (run, version, marker["version_id"]) in log
        assert client.get_version(version)[0] == (legacy / ("%d.blob" % run)).read_bytes()
    assert "differing: " in log and "setup.fcl" in log


def test_changed_run_is_uploaded_with_override_and_validated(tmp_path, server):
    records = make_records(tmp_path / "records", 1400, 1)
    cfg = write_config(tmp_path, records, ucon=(server.url, "writer", PASSWORD))
    client = open_ucondb(server.url, "test01", "configuration", user="writer", password=PASSWORD)
    stale = pack(1400, {"metadata.fcl": 'config_name: "old"\n'}, "Jan 01 00:00")
    old = client.put("1400", stale, tags=["1400"])
    out = doit(cfg)
    assert out.returncode == 0, out.stdout + out.stderr
    marker = json.loads((run_dir(tmp_path, 1400) / "ucondb.json").read_text())
    assert marker["adopted"] is False and marker["version_id"] != old.version_id
    log = (tmp_path / "work" / "archiver.log").read_text()
    assert "replaced version %s by %s" % (old.version_id, marker["version_id"]) in log
    assert client.get_version(old.version_id)[0] == stale


def archived_then_tampered(tmp_path, run):
    """Archive one run, replace what UconDB holds for it, and make doit validate it again."""
    cfg = write_config(tmp_path, make_records(tmp_path / "records", run, 1))
    assert doit(cfg).returncode == 0
    db, _ = ucon_versions(tmp_path)
    db.put(str(run), b"tampered", tags=[str(run)], override=True)
    assert doit(cfg, "forget", "validate:%d" % run).returncode == 0
    return cfg


def test_validation_failure_names_the_numbers(tmp_path):
    cfg = archived_then_tampered(tmp_path, 1500)
    out = doit(cfg, "validate:1500")
    assert out.returncode == 1 and executed(out) == ["validate:1500"]
    fail = [line for line in out.stdout.splitlines() if line.startswith("FAILED")][0]
    assert "key 1500 points at version" in fail and "MD5" in fail


def test_a_fhicl_set_damaged_by_a_crash_is_rebuilt(tmp_path):
    """The FHiCL set is not fsynced: after a power cut a file may be empty. Reads check it."""
    records = make_records(tmp_path / "records", 1600, 1)
    cfg = write_config(tmp_path, records)
    assert doit(cfg, "fhiclize").returncode == 0
    (run_dir(tmp_path, 1600) / "fhicl" / "metadata.fcl").write_bytes(b"")
    out = doit(cfg)
    assert out.returncode == 1
    fail = [line for line in out.stdout.splitlines() if line.startswith("FAILED")][0]
    assert "artdaqdb:1600" in fail and "damaged" in fail and "metadata.fcl" in fail
    out = doit(cfg)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "fhiclize:1600" in executed(out) and "validate:1600" in executed(out)


def test_a_failed_revalidation_unseals_the_run(tmp_path):
    cfg = archived_then_tampered(tmp_path, 1700)
    assert doit(cfg, "validate:1700").returncode == 1
    assert not (run_dir(tmp_path, 1700) / "validated.md5").exists()
    again = doit(cfg)  # a plain cron tick keeps trying: the run is not sealed
    assert again.returncode == 1 and "FAILED validate:1700" in again.stdout


def test_legacy_use_tools_on_a_filesystem_archive_is_written_natively(tmp_path):
    records = make_records(tmp_path / "records", 1800, 1)
    cfg = write_config(tmp_path, records)
    cfg.write_text(cfg.read_text().replace("artdaq_db:\n", "artdaq_db:\n  use_tools: true\n"))
    out = doit(cfg)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "use_tools ignored" in (tmp_path / "work" / "archiver.log").read_text()
