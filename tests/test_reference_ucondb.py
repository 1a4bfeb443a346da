"""rra against the real UconDB 3.9.7 server (../shared/reference/ucondb), through the real doit.

Each test starts from a reset server: folders run_records and test01, no objects, so the
first upload of every scenario goes into a brand-new object, as for a new experiment.
"""

import json
import shutil

import pytest

from conftest import DATA, ROOT, doit, make_records, python_m, stop_run, write_config
from rra.blob import pack, unpack
from rra.ucondb import KeyExists, UconDBNotFound, open_ucondb

pytestmark = pytest.mark.reference
OBJECT = "configuration"


def config(tmp_path, records, srv, password=None, folder="run_records"):
    """A config for records that archives into folder/configuration of the real server."""
    cfg = write_config(tmp_path, records, ucon=(srv.url, srv.user, password or srv.password))
    cfg.write_text(cfg.read_text().replace("folder_name: test01", "folder_name: %s" % folder))
    return cfg


def client(srv, folder="run_records", writer=True):
    auth = {"user": srv.user, "password": srv.password} if writer else {}
    return open_ucondb(srv.url, folder, OBJECT, retry_delay=0.05, **auth)


def rra(cfg, *args):
    return python_m("rra.cli", "--config", cfg, *args, cwd=ROOT)


def executed(out):
    return sorted(line[3:].strip() for line in out.stdout.splitlines() if line.startswith(".  "))


def marker(tmp_path, run, name="ucondb.json"):
    return json.loads((tmp_path / "work" / "runs" / str(run) / name).read_text())


def golden_records(tmp_path):
    records = tmp_path / "records"
    shutil.copytree(DATA / "golden" / "fhiclize" / "run_records", records)
    return records, sorted(int(p.name) for p in records.iterdir())


def test_client_reads_a_brand_new_object_as_empty_without_retrying(real_ucondb):
    db = client(real_ucondb)
    assert db.versions() == [] and db.keys() == []
    assert db.meta("7300") is None  # the server's 500, confirmed by /versions
    with pytest.raises(UconDBNotFound):
        db.get("7300")
    data_gets = real_ucondb.requests("GET", "/data/")
    assert [status for _, _, status in data_gets] == [500, 500]  # once each: never retried
    meta = db.put("7300", b"first upload\n", tags=["7300"])
    assert db.meta("7300").version_id == meta.version_id
    assert db.get("7300")[0] == b"first upload\n"
    with pytest.raises(KeyExists):
        db.put("7300", b"other bytes\n", tags=["7300"])
    assert db.meta("7301") is None  # an object with versions: a plain 404


def test_client_names_an_unknown_folder(real_ucondb):
    db = open_ucondb(
        real_ucondb.url, "nosuchfolder", OBJECT, user=real_ucondb.user, password=real_ucondb.password, retry_delay=0.05
    )
    for call in (db.versions, lambda: db.meta("1"), lambda: db.get("1"), lambda: db.put("1", b"x", tags=["1"])):
        with pytest.raises(UconDBNotFound, match="no folder nosuchfolder"):
            call()


def test_one_digest_auth_per_folder(real_ucondb):
    """The realm is the folder: each folder's client answers its own challenge."""
    first, second = client(real_ucondb, "run_records"), client(real_ucondb, "test01")
    for n in range(2):
        first.put(str(n), b"a%d" % n, tags=[str(n)])
        second.put(str(n), b"b%d" % n, tags=[str(n)])
    assert first.get("1")[0] == b"a1" and second.get("1")[0] == b"b1"
    # one challenge per client, then every later POST is answered at once
    statuses = [status for _, _, status in real_ucondb.requests("POST")]
    assert statuses.count(401) == 2 and statuses.count(200) == 4


def test_wrong_password_is_one_clear_error(tmp_path, real_ucondb):
    records = make_records(tmp_path / "records", 1300, 2)
    out = doit(config(tmp_path, records, real_ucondb, password="wrong-Pass-77"))
    assert out.returncode == 1
    fails = [line for line in out.stdout.splitlines() if line.startswith("FAILED")]
    assert fails and all("ucondb:" in f for f in fails)
    assert all("'archiver'" in f and "folder run_records" in f and "401" in f for f in fails), fails
    assert "wrong-Pass-77" not in out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr
    assert real_ucondb.requests("POST") and all(s == 401 for _, _, s in real_ucondb.requests("POST"))


def test_first_archive_rerun_and_stop_time(tmp_path, real_ucondb):
    """A new folder: every run archived; a re-run sends nothing; a stop time adds one version."""
    records = make_records(tmp_path / "records", 7300, 5, "--running", 1)
    cfg = config(tmp_path, records, real_ucondb)
    first = doit(cfg)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "validate: 5 done" in first.stdout
    asked = real_ucondb.requests()
    assert [s for _, _, s in asked].count(500) == 0  # no key lookup: one listing for all
    assert [(p, s) for _, p, s in asked if p.startswith("/versions")] == [
        ("/versions?folder=run_records&object=configuration", 404)
    ]  # the brand-new object
    assert len([p for m, p, s in asked if m == "POST" and s == 200]) == 5
    db = client(real_ucondb, writer=False)
    assert db.keys() == [str(r) for r in range(7300, 7305)]

    seen = len(real_ucondb.requests())
    again = doit(cfg)
    assert again.returncode == 0 and executed(again) == []
    assert len(real_ucondb.requests()) == seen  # a no-op talks to nobody

    before = {m.version_id: m for m in db.versions()}
    old = marker(tmp_path, 7304)
    old_data = db.get("7304")[0]
    stop_run(records, 7304)
    third = doit(cfg)
    assert third.returncode == 0, third.stdout + third.stderr
    after = db.versions()
    assert len(after) == len(before) + 1  # exactly one new version
    new = after[0]
    assert new.key == "7304" and new.version_id == marker(tmp_path, 7304)["version_id"]
    assert b"DAQInterface_stop_time" in db.get("7304")[0]
    kept = next(m for m in after if m.version_id == old["version_id"])
    assert kept.key is None  # the old version lost its key ...
    assert db.get_version(old["version_id"])[0] == old_data  # ... and kept its data


def test_validation_checks_md5_size_and_adler32(tmp_path, real_ucondb):
    records = make_records(tmp_path / "records", 7400, 1)
    cfg = config(tmp_path, records, real_ucondb)
    assert doit(cfg).returncode == 0
    validated = (tmp_path / "work" / "runs" / "7400" / "validated.md5").read_text()
    assert validated.split()[0] == marker(tmp_path, 7400)["md5"]
    client(real_ucondb).put("7400", b"tampered", tags=["7400"], override=True)
    assert doit(cfg, "forget", "validate:7400").returncode == 0
    out = doit(cfg, "validate:7400")
    assert out.returncode == 1
    fail = next(line for line in out.stdout.splitlines() if line.startswith("FAILED"))
    assert "key 7400 points at version" in fail and "MD5" in fail


def test_golden_records_legacy_adoption_and_recover(tmp_path, real_ucondb):
    """Legacy blobs already there are adopted (no POST); a lost work dir is recovered, no upload."""
    records, runs = golden_records(tmp_path)
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    assert doit(write_config(earlier, records), "blob").returncode == 0
    db = client(real_ucondb)
    for run in runs:  # as the legacy archiver uploaded them: another minute, no hashes.fcl
        number, _, files = unpack((earlier / "work" / "runs" / str(run) / "blob.txt").read_bytes())
        files.pop("hashes.fcl", None)
        db.put(str(run), pack(number, files, "Mar 01 10:00"), tags=[str(run)])
    posts = len(real_ucondb.requests("POST"))
    cfg = config(tmp_path, records, real_ucondb)
    out = doit(cfg)
    assert out.returncode == 0, out.stdout + out.stderr
    assert len(real_ucondb.requests("POST")) == posts, "re-uploaded a blob the legacy stored"
    assert all(marker(tmp_path, run)["adopted"] for run in runs)

    shutil.rmtree(tmp_path / "work")
    recovered = rra(cfg, "recover")
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    out = doit(cfg)
    assert out.returncode == 0, out.stdout + out.stderr
    assert len(real_ucondb.requests("POST")) == posts  # recover and the re-run upload nothing
    assert all((tmp_path / "work" / "runs" / str(r) / "validated.md5").exists() for r in runs)


def test_recover_into_an_empty_folder_then_archive(tmp_path, real_ucondb):
    """recover on a brand-new object finds nothing to adopt, and says so without an error."""
    records = make_records(tmp_path / "records", 7500, 3)
    cfg = config(tmp_path, records, real_ucondb)
    out = rra(cfg, "recover")
    assert out.returncode == 0, out.stdout + out.stderr
    assert doit(cfg).returncode == 0
    assert client(real_ucondb, writer=False).keys() == ["7500", "7501", "7502"]


def test_report_live_against_the_real_server(tmp_path, real_ucondb):
    records = make_records(tmp_path / "records", 7600, 3)
    cfg = config(tmp_path, records, real_ucondb)
    empty = rra(cfg, "report", "--live", "--json")
    assert empty.returncode == 0, empty.stdout + empty.stderr
    assert doit(cfg).returncode == 0
    out = rra(cfg, "report", "--live", "--json")
    assert out.returncode == 0, out.stdout + out.stderr
    live = json.loads(out.stdout)["live"]
    assert not any(live[k] for k in live if k.startswith("disagree")), live
    text = rra(cfg, "report", "--live")
    assert "UconDB 3 keys" in text.stdout, text.stdout


def test_run_record_files_on_the_real_server(tmp_path, real_ucondb):
    """ucon_db.files_object: a second object, restored byte for byte, old versions by id, diffed."""
    records = make_records(tmp_path / "records", 7700, 2, "--running", 1)
    (records / "7701" / "DAQInterface.log").write_bytes(b"\xff\xfe not utf-8\n")
    cfg = config(tmp_path, records, real_ucondb)
    cfg.write_text(
        cfg.read_text().replace(
            "folder_name: run_records", "folder_name: run_records\n  files_object: run_record_files"
        )
    )
    out = doit(cfg)
    assert out.returncode == 0, out.stdout + out.stderr
    files = open_ucondb(real_ucondb.url, "run_records", "run_record_files")
    assert files.keys() == ["7700", "7701"]
    before = {p.name: p.read_bytes() for p in (records / "7701").iterdir()}
    first = files.meta("7701").version_id
    stop_run(records, 7701)
    assert doit(cfg).returncode == 0
    assert len(files.versions()) == 3
    restored = rra(cfg, "restore", "7701", str(tmp_path / "old"), "--version", str(first))
    assert restored.returncode == 0, restored.stderr
    assert {p.name: p.read_bytes() for p in (tmp_path / "old").iterdir()} == before
    shown = rra(cfg, "diff", "7701")
    assert shown.returncode == 0 and "+DAQInterface stop time: " in shown.stdout, shown.stdout + shown.stderr
