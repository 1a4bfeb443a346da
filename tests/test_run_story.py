"""What operators read: rra status RUN, the end-of-run summary and progress, and the switch from
the legacy archiver (rra recover --dry-run predicts it, report --live and the summary agree)."""

import json
import re
import shutil

from conftest import doit, make_records, python_m, stop_run, write_config
from rra.ucondb import open_ucondb


def rra(cfg, *args):
    return python_m("rra.cli", "--config", cfg, *args)


def status(cfg, run, *args):
    out = rra(cfg, "status", str(run), "--json", *args)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def stages(story):
    return {st["stage"]: st for st in story["stages"]}


def test_status_tells_each_stage_the_failure_and_how_to_retry(tmp_path):
    records = make_records(tmp_path / "records", 100, 3, "--running", 1)
    bad = records / "101" / "boot.txt"
    text = bad.read_bytes()
    bad.unlink()
    bad.symlink_to("/etc/hostname")
    cfg = write_config(tmp_path, records)
    assert doit(cfg).returncode == 1

    story = status(cfg, 100)
    st = stages(story)
    assert all(s["done"] and s["time"] for s in story["stages"])
    assert st["artdaqdb"]["version"] == st["artdaqdb"]["configuration"]
    assert st["artdaqdb"]["versions"] == [st["artdaqdb"]["version"]]
    assert st["ucondb"]["version_id"] == 1 and st["validate"]["version_id"] == "1"
    assert story["failure"] is None and story["record"]["sealed"]
    assert story["next"].startswith("nothing")

    story = status(cfg, 101)
    assert story["failure"]["stage"] == "fhiclize" and "symbolic link" in story["failure"]["error"]
    assert "doit fhiclize:101" in story["failure"]["retry"]
    assert not any(s["done"] for s in story["stages"])
    text_out = rra(cfg, "status", "101").stdout
    assert "last failure: fhiclize" in text_out and "retry: " in text_out

    bad.unlink()  # fixed: the next tick archives it, and the failure is gone
    bad.write_bytes(text)
    stop_run(records, 102)  # and 102 got its stop time: a second artdaqDB version
    assert doit(cfg).returncode == 0
    assert status(cfg, 101)["failure"] is None
    st = stages(status(cfg, 102, "--live"))
    assert st["artdaqdb"]["versions"] == [st["artdaqdb"]["configuration"], st["artdaqdb"]["configuration"] + "v1"]
    live = status(cfg, 102, "--live")["live"]
    assert live["artdaqdb"]["version"] == st["artdaqdb"]["version"] and not live["errors"]
    assert live["ucondb"]["version_id"] == st["ucondb"]["version_id"]
    assert st["ucondb"]["replaced"] == 2  # its first upload (101 had failed)
    assert "metadata.fcl" in st["ucondb"]["differing"]

    # A failure record the run left behind before it succeeded another way never shows.
    stale = tmp_path / "work" / "runs" / "100" / "failed-ucondb.json"
    stale.write_text(
        json.dumps(
            {
                "run": 100,
                "stage": "ucondb",
                "error": "503 Service Unavailable",
                "time": "2020-01-01T00:00:00+0000",
                "at": 1577836800.0,
            }
        )
    )
    assert status(cfg, 100)["failure"] is None
    rep = json.loads(rra(cfg, "report", "--json").stdout)
    assert rep["failed"] == []

    missing = rra(cfg, "status", "999")
    assert missing.returncode == 1 and "run 999: no run record" in missing.stderr


def summary(out):
    return out.stdout[out.stdout.index("fhiclize:") :] if "fhiclize:" in out.stdout else out.stdout


def test_a_forced_unchanged_run_says_nothing_was_stored(tmp_path):
    records = make_records(tmp_path / "records", 200, 3)
    cfg = write_config(tmp_path, records)
    first = doit(cfg)
    assert first.returncode == 0
    log = tmp_path / "work" / "archiver.log"
    assert "[run 201] [artdaqdb] stored as 201/" in log.read_text()  # by run 200's store
    assert "now: 3 of 3 runs archived and validated (0 sealed before, 3 validated by this invocation)" in first.stdout
    assert "artdaqDB: 3 new versions (3 first versions, 0 updates" in first.stdout
    assert "UconDB: 3 uploaded, 0 replaced" in first.stdout
    before = log.read_text()
    forced = doit(cfg, "-a", "artdaqdb:201")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    new = log.read_text()[len(before) :]
    assert "[run 201] [artdaqdb] nothing stored: artdaqDB already holds this FHiCL set" in new
    assert "stored as" not in new and "artdaqDB:" not in forced.stdout
    again = doit(cfg)
    assert "now: 3 of 3 runs archived and validated (3 sealed before, 0 validated by this invocation)" in again.stdout


def test_progress_moves_with_every_stage(tmp_path):
    records = make_records(tmp_path / "records", 300, 4, "--lite")
    cfg = write_config(tmp_path, records)
    out = doit(cfg, env={"RRA_PROGRESS_SECONDS": "0"})
    assert out.returncode == 0, out.stdout + out.stderr
    lines = [line for line in out.stdout.splitlines() if line.startswith("progress:")]
    done = [int(re.match(r"progress: (\d+)/20 tasks", line).group(1)) for line in lines]
    assert done == list(range(1, 21))  # one step per task, whatever its stage
    assert "(validated 0/4 runs)" in lines[7] and "(validated 4/4 runs)" in lines[-1]


LEGACY = "fhiclize_generate: [boot, metadata, known_boardreaders_list, RunHistory, RunHistory2]\n"


def legacy_archive(tmp_path, count=4):
    """What the legacy archiver's API mode left: every run without setup, settings, environment
    and ranks in artdaqDB and in UconDB. Then the stop time of the last run arrives."""
    records = make_records(tmp_path / "records", 1000, count, "--running", 1)
    cfg = write_config(tmp_path, records)
    full = cfg.read_text().replace("app:\n", "app:\n  batch_size: 3\n")
    cfg.write_text(cfg.read_text() + LEGACY)
    assert doit(cfg).returncode == 0
    shutil.rmtree(tmp_path / "work" / "runs")  # rra starts with the databases only
    (tmp_path / "work" / ".doit.db").unlink()
    cfg.write_text(full)
    stop_run(records, 1000 + count - 1)
    return cfg


def test_the_switch_from_the_legacy_archiver_is_predicted_and_reported(tmp_path):
    cfg = legacy_archive(tmp_path)
    log = tmp_path / "work" / "archiver.log"
    logged = log.read_text()
    (tmp_path / "records" / "1001" / "notes").mkdir()  # fhiclize warns about it

    dry = rra(cfg, "recover", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "subdirectory notes ignored" in dry.stderr  # on the console, not in the log
    assert "4 runs left for doit (4 to import, 0 to migrate)" in dry.stdout
    assert re.search(
        r"1000-1002 \(3 runs\): artdaqDB lacks environment, ranks, settings, setup "
        r"\(as in every run the legacy archiver stored\): a new version; UconDB "
        r"version lacks environment.fcl, ranks.fcl, settings.fcl, setup.fcl: "
        r"replaced \(override\)",
        dry.stdout,
    ), dry.stdout
    assert re.search(r"1003 \(1 run\): .*differs in .*metadata", dry.stdout), dry.stdout
    assert "in total: 4 new artdaqDB versions (0 first, 4 updates), 4 UconDB replacements" in dry.stdout
    assert "app.batch_size=3: doit works on 3 runs per invocation, so this takes 2 invocations" in dry.stdout
    assert log.read_text() == logged, "a dry run wrote into the log"
    assert not (tmp_path / "work" / "runs").exists()

    assert rra(cfg, "recover").returncode == 0
    rep = json.loads(rra(cfg, "report", "--live", "--json").stdout)
    assert rep["live"]["pending_artdaqdb"] == [1000, 1001, 1002, 1003]
    assert not any(rep["live"][k] for k in rep["live"] if k.startswith("disagree"))
    assert not any("rra recover`" in say for say in rep["recommendations"])

    first, second = doit(cfg), doit(cfg)
    assert first.returncode == 0 and second.returncode == 0, first.stdout + second.stdout
    assert "1 more runs wait for the next invocation (app.batch_size)" in first.stdout
    replaced = log.read_text().count("[ucondb] replaced version")
    assert replaced == 4  # as predicted
    for out, runs in ((first, "1000-1002"), (second, "1003")):
        text = summary(out)
        n = len(range(1000, 1003)) if out is first else 1
        assert "artdaqDB: %d new versions (0 first versions, %d updates" % (n, n) in text
        assert "UconDB: 0 uploaded, %d replaced (override)" % n in text
        assert "  replaced %s; the old versions stay readable by id" % runs in text
        assert re.search(r"  they differed in .*setup.fcl \(%d runs?\)" % n, text), text
    assert "now: 4 of 4 runs archived and validated" in second.stdout

    # A UconDB key that is no run of this archive is a note, not a disagreement to act on.
    store = open_ucondb("sqlite://%s" % (tmp_path / "work" / "ucondb.sqlite"), "test01", "configuration")
    store.put("0", b"not a run", tags=["0"])
    store.put("999", b"a run archived elsewhere", tags=["999"])
    rep = json.loads(rra(cfg, "report", "--live", "--json").stdout)
    assert rep["live"]["stray_ucondb"] == [0, 999]
    assert rep["recommendations"] == ["every run on disk is archived, validated and up to date"]
    text = rra(cfg, "report", "--live").stdout
    assert "note: UconDB keys with no run record on disk" in text and "disagree" not in text

    check = rra(cfg, "check-config")
    assert "app.batch_size: 3 means at most 3 runs per invocation" in check.stderr


def test_list_and_forget_do_what_the_readme_says_for_sealed_runs(tmp_path):
    records = make_records(tmp_path / "records", 400, 2, "--lite")
    cfg = write_config(tmp_path, records)
    assert doit(cfg).returncode == 0
    listed = doit(cfg, "list", "--all").stdout
    assert "validate:400" not in listed  # sealed: no tasks unless named or full=1
    assert "validate:400" in doit(cfg, "list", "--all", "full=1").stdout
    assert doit(cfg, "forget", "validate:400").returncode == 0
    assert ".  validate:400" not in doit(cfg).stdout  # a plain doit still skips the sealed run
    named = doit(cfg, "validate:400")
    assert named.returncode == 0 and ".  validate:400" in named.stdout
    assert "batch_size" not in rra(cfg, "check-config").stderr  # the default warns nobody


def test_recover_names_a_run_it_cannot_plan_and_plans_the_others(tmp_path):
    cfg = legacy_archive(tmp_path, count=2)
    meta = tmp_path / "records" / "1000" / "metadata.txt"
    meta.chmod(0o644)
    meta.write_text(re.sub(r"(?m)^Config name: .*$", "Config name: renamed", meta.read_text()))
    dry = rra(cfg, "recover", "--dry-run")
    assert dry.returncode == 1
    assert re.fullmatch(
        r"run 1000: run is archived as configuration 1000/\w+, not 1000/renamed", dry.stderr.strip().splitlines()[-1]
    ), dry.stderr
    assert "1 runs left for doit (1 to import, 0 to migrate)" in dry.stdout
    assert "  1001 (1 run): artdaqDB lacks" in dry.stdout
