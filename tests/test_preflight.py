"""Pre-flight and the UconDB breaker: a config problem is one line per invocation, not two per run."""

import json
import os
import subprocess
import sys

from conftest import ROOT, UCON_PASSWORD, doit, make_records, python_m, write_config
from rra import config
from rra.archive import Archive
from rra.stages import ucondb
from rra.ucondb import open_ucondb


def rra(cfg, *args, env=None):
    full_env = dict(os.environ, **(env or {}))
    full_env.pop("UCONDB_PASSWORD", None)
    return python_m("rra.cli", "--config", cfg, *args, cwd=ROOT, env=full_env)


def with_env_password(cfg):
    cfg.write_text(
        cfg.read_text().replace("writer_password: '%s'" % UCON_PASSWORD, 'writer_password: "${UCONDB_PASSWORD}"')
    )
    return cfg


def test_reading_never_needs_the_write_secret(tmp_path, server):
    records = make_records(tmp_path / "records", 1900, 2)
    cfg = write_config(tmp_path, records, ucon=(server.url, "writer", UCON_PASSWORD))
    assert doit(cfg, env={"UCONDB_PASSWORD": ""}).returncode == 0  # archived with the password
    with_env_password(cfg)
    for args in (("report",), ("report", "--live"), ("check-config",)):
        out = rra(cfg, *args)
        assert out.returncode == 0, (args, out.stderr)
    shown = rra(cfg, "check-config").stdout
    assert "ucon_db.writer_password: (unset:" in shown and "UCONDB_PASSWORD" in shown


def test_writing_without_the_secret_says_which_variable(tmp_path, server):
    records = make_records(tmp_path / "records", 1950, 3)
    cfg = with_env_password(write_config(tmp_path, records, ucon=(server.url, "writer", UCON_PASSWORD)))
    env = dict(os.environ)
    env.pop("UCONDB_PASSWORD", None)
    out = subprocess.run(
        [sys.executable, "-m", "doit", "-f", str(ROOT / "dodo.py"), "config=%s" % cfg],
        capture_output=True,
        text=True,
        cwd=str(ROOT),
        env=env,
    )
    assert out.returncode == 1
    fails = [line for line in out.stdout.splitlines() if line.startswith("FAILED")]
    assert len(fails) == 1 and "UCONDB_PASSWORD" in fails[0] and "folder test01" in fails[0], fails
    assert "ucondb:   1 failed, 2 held back" in out.stdout
    assert server.count("POST") == 0


def test_missing_schema_is_one_line_and_nothing_runs(tmp_path):
    records = make_records(tmp_path / "records", 2000, 3)
    cfg = write_config(tmp_path, records)
    cfg.write_text(cfg.read_text().replace("artdaq_db:\n", "artdaq_db:\n  fcl_conf_dir: %s\n" % (tmp_path / "nowhere")))
    out = doit(cfg)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1].startswith("rra: artdaq_db.fcl_conf_dir")
    assert "holds no schema.fcl" in out.stderr and "FAILED" not in out.stdout
    assert not (tmp_path / "work" / "runs").exists() or not any((tmp_path / "work" / "runs").iterdir())


def test_an_artdaqdb_that_cannot_be_written_is_one_line(tmp_path):
    records = make_records(tmp_path / "records", 2050, 2)
    cfg = write_config(tmp_path, records)
    blocker = tmp_path / "work" / "artdaqdb"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("a file where the database should be\n")
    out = doit(cfg)
    assert out.returncode == 1 and "FAILED" not in out.stdout
    assert "artdaqDB %s cannot be written" % blocker in out.stderr


def test_one_listing_then_two_requests_per_new_run(tmp_path, server):
    """Issue 17: /versions once per invocation; then a POST and the validation GET per run."""
    records = make_records(tmp_path / "records", 2100, 6)
    cfg = write_config(tmp_path, records, ucon=(server.url, "writer", UCON_PASSWORD))
    out = doit(cfg)
    assert out.returncode == 0, out.stdout + out.stderr
    assert server.count("GET", "/versions") == 1
    assert server.count("POST") == 6 + 1  # one upload each, and one digest challenge
    assert server.count("GET", "/data") == 6  # the validation downloads, no lookups
    assert server.count() == 1 + 7 + 6


def test_listed_key_with_the_same_content_is_adopted_without_a_request(tmp_path, server):
    records = make_records(tmp_path / "records", 2200, 3)
    cfg = write_config(tmp_path, records, ucon=(server.url, "writer", UCON_PASSWORD))
    assert doit(cfg).returncode == 0
    ids = {
        r: json.loads((tmp_path / "work" / "runs" / str(r) / "ucondb.json").read_text())["version_id"]
        for r in (2200, 2201, 2202)
    }
    before = server.count()
    assert doit(cfg, "full=1", "-a", "ucondb").returncode == 0  # every upload again, forced
    assert server.count() - before == 1  # the listing, and no per-run request
    for r, vid in ids.items():
        marker = json.loads((tmp_path / "work" / "runs" / str(r) / "ucondb.json").read_text())
        assert marker["adopted"] is True and marker["version_id"] == vid


def test_a_key_stored_since_the_listing_is_compared_not_duplicated(tmp_path, server):
    """A key that appears after the listing: the POST meets 'already exists', then rra looks."""
    records = make_records(tmp_path / "records", 2300, 1)
    cfg = write_config(tmp_path, records, ucon=(server.url, "writer", UCON_PASSWORD))
    assert doit(cfg, "blob").returncode == 0
    loaded = Archive(config.load(cfg))
    assert loaded.take_listing() == {}  # the invocation starts: nothing there yet
    run_dir = tmp_path / "work" / "runs" / "2300"
    client = open_ucondb(server.url, "test01", "configuration", user="writer", password=UCON_PASSWORD)
    first = client.put("2300", (run_dir / "blob.txt").read_bytes(), tags=["2300"])  # meanwhile
    posts = server.count("POST")
    ucondb.upload(loaded, 2300)
    assert [m.version_id for m in client.versions()] == [first.version_id]  # not stored twice
    assert server.count("POST") - posts <= 2  # the refused POST (and its challenge), no other
    marker = json.loads((run_dir / "ucondb.json").read_text())
    assert marker["adopted"] is True and marker["version_id"] == first.version_id


def test_check_config_connect_runs_the_preflight(tmp_path, server):
    records = make_records(tmp_path / "records", 2400, 1)
    good = write_config(tmp_path, records, ucon=(server.url, "writer", UCON_PASSWORD))
    out = rra(good, "check-config", "--connect")
    assert out.returncode == 0, out.stderr
    assert "# artdaqDB: ok" in out.stdout and "# UconDB: ok" in out.stdout
    bad = tmp_path / "bad"
    bad.mkdir()
    down = write_config(bad, records, ucon=("http://127.0.0.1:9/app", "writer", UCON_PASSWORD))
    out = rra(down, "check-config", "--connect")
    assert out.returncode == 1 and "# UconDB: GET failed: cannot reach UconDB" in out.stdout
