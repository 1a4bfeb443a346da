"""rra report and rra recover, on real archives built by the real doit graph."""

import json
import shutil
import subprocess
import sys


from conftest import UCON_PASSWORD, doit, make_records, python_m, stop_run, write_config
from rra.ucondb import open_ucondb

PASSWORD = UCON_PASSWORD


def rra(cfg, *args):
    return python_m("rra.cli", "--config", cfg, *args)


def report(cfg, *args):
    out = rra(cfg, "report", "--json", *args)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_report_counts_ranges_gaps_failures_and_changes(tmp_path):
    records = make_records(tmp_path / "records", 100, 10, "--skip", 104, "--running", 1)
    bad = records / "107" / "boot.txt"
    bad.unlink()
    bad.symlink_to("/etc/hostname")
    cfg = write_config(tmp_path, records)
    assert doit(cfg).returncode == 1
    rep = report(cfg)
    assert rep["schema"] == 2
    st = rep["stages"]
    assert st["record"]["count"] == 9 and st["record"]["gaps"] == [[104, 104]]
    assert st["validate"]["count"] == 8 and st["validate"]["ranges"] == [[100, 103], [105, 106], [108, 109]]
    assert st["fhiclize"]["gaps"] == [[104, 104], [107, 107]]
    assert [(f["run"], f["stage"]) for f in rep["failed"]] == [(107, "fhiclize")]
    assert "symbolic link" in rep["failed"][0]["error"]
    assert rep["changed"] == [] and rep["not_archived"] == []
    stop_run(records, 109)
    rep = report(cfg)
    assert rep["changed"] == [109]
    assert any("1 runs changed since archived: 109" in r for r in rep["recommendations"])
    text = rra(cfg, "report").stdout
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "fhiclize:107" in text and "validated" in text


def test_report_live_shows_disagreements(tmp_path, server):
    records = make_records(tmp_path / "records", 200, 4)
    cfg = write_config(tmp_path, records, ucon=(server.url, "writer", PASSWORD))
    assert doit(cfg).returncode == 0
    runs = tmp_path / "work" / "runs"
    (runs / "201" / "artdaqdb.json").unlink()
    (runs / "202" / "blob.txt").write_bytes(b"edited by hand")
    open_ucondb(server.url, "test01", "configuration", user="writer", password=PASSWORD).put(
        "999", b"stray", tags=["999"]
    )
    live = report(cfg, "--live")["live"]
    assert live["artdaqdb_runs"] == 4 and live["ucondb_keys"] == 5
    assert live["disagree_artdaqdb_unknown"] == [201]
    assert live["disagree_ucondb_unknown"] == [] and live["stray_ucondb"] == [999]  # no record
    assert live["disagree_ucondb_adler32"] == []  # 202's marker still names what UconDB holds
    text = rra(cfg, "report", "--live").stdout
    assert "in artdaqDB, unknown to the work dir: 201" in text and "rra recover" in text
    assert "note: UconDB keys with no run record on disk (not rra's; nothing to do): 999" in text


def test_recover_after_losing_the_work_dir_uploads_nothing(tmp_path, server):
    records = make_records(tmp_path / "records", 300, 6, "--running", 1)
    cfg = write_config(tmp_path, records, ucon=(server.url, "writer", PASSWORD))
    assert doit(cfg).returncode == 0
    stop_run(records, 305)
    assert doit(cfg).returncode == 0  # 305 now has an update version in both databases
    shutil.rmtree(tmp_path / "work" / "runs")
    (tmp_path / "work" / ".doit.db").unlink()
    posts = server.count("POST")
    dry = rra(cfg, "recover", "--dry-run")
    assert dry.returncode == 0 and "6 runs would be verified in UconDB" in dry.stdout
    assert "left for doit" not in dry.stdout
    assert not (tmp_path / "work" / "runs").exists()
    out = rra(cfg, "recover")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "6 runs verified in UconDB: 300-305" in out.stdout
    after = doit(cfg, "full=1")
    assert after.returncode == 0
    assert [line for line in after.stdout.splitlines() if line.startswith(".  ")] == []
    assert server.count("POST") == posts
    assert report(cfg)["stages"]["validate"]["count"] == 6


def test_recover_leaves_what_the_databases_lack_to_doit(tmp_path, server):
    records = make_records(tmp_path / "records", 400, 4)
    half = tmp_path / "half"
    half.mkdir()
    shutil.copytree(records, half / "records", ignore=lambda d, names: [n for n in names if n in ("402", "403")])
    # the databases hold runs 400-401 only
    cfg_half = write_config(half, half / "records", ucon=(server.url, "writer", PASSWORD))
    assert doit(cfg_half).returncode == 0
    shutil.copytree(half / "work" / "artdaqdb", tmp_path / "work" / "artdaqdb")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(cfg_half.read_text().replace(str(half / "records"), str(records)))
    posts = server.count("POST")
    out = rra(cfg, "recover")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2 runs verified in UconDB: 400-401" in out.stdout
    assert "2 runs left for doit (2 to import, 0 to migrate)" in out.stdout
    assert "402-403 (2 runs): not in artdaqDB: stored (first version); UconDB has no such key: uploaded" in out.stdout
    run = doit(cfg)
    assert run.returncode == 0
    done = sorted(line[3:] for line in run.stdout.splitlines() if line.startswith(".  ucondb:"))
    assert done == ["ucondb:402", "ucondb:403"]
    assert server.count("POST") - posts <= 4  # two uploads (and their digest challenges)


def test_recover_refuses_while_an_archiver_runs(tmp_path):
    records = make_records(tmp_path / "records", 500, 1)
    cfg = write_config(tmp_path, records)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys,time; from rra.lock import ArchiverLock; "
            "lock = ArchiverLock(sys.argv[1]).acquire('x'); print('held', flush=True); "
            "time.sleep(30)",
            str(tmp_path / "work" / ".archiver.lock"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        holder.stdout.readline()
        out = rra(cfg, "recover")
        assert out.returncode == 1 and "another archiver holds" in out.stderr
    finally:
        holder.kill()
        holder.wait()
