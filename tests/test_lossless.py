"""The run record as written: archived whole (ucon_db.files_object), restored byte for byte, diffed."""

import os
import shutil
import subprocess

from conftest import ROOT, doit, make_records, python_m, stop_run, write_config
from rra import runfiles
from rra.ucondb import open_ucondb

ODD_FILES = {  # what artdaq_database never sees, or sees only as data
    "DAQInterface.log": b"\xff\xfe latin-1 \xe9t\xe9 and binary \x00\x01\n",
    "config.json": b'{"daq": {"runs": [1, 2]}}\n',
    "comments.txt": b"shifter: beam off at 14:02\nno final newline",
    "Upper.FCL": b'not: "a .fcl name"\n',
    "Backup.fcl~": b"# an editor's backup\nold: 1\n",
}


def with_odd_files(records, run):
    d = records / str(run)
    for name, data in ODD_FILES.items():
        (d / name).write_bytes(data)
    fcl = sorted(d.glob("*.fcl"))[0]
    fcl.write_bytes(b"# commented out: outputs.rootout: {}\n" + fcl.read_bytes() + b"  # trailing\n")
    os.chmod(d / "comments.txt", 0o640)
    os.utime(d / "config.json", ns=(1_700_000_000_123_456_789, 1_700_000_000_123_456_789))
    return d


def config(tmp_path, records, files_object="run_record_files"):
    """A config whose databases live outside the work dir, so the work dir can be lost."""
    cfg = write_config(tmp_path, records)
    text = cfg.read_text().replace(
        "sqlite://${app.work_dir}/ucondb.sqlite", "sqlite://%s" % (tmp_path / "ucondb.sqlite")
    )
    text = text.replace("filesystemdb://${app.work_dir}/artdaqdb", "filesystemdb://%s" % (tmp_path / "artdaqdb"))
    if files_object is not None:
        text = text.replace("  folder_name: test01\n", "  folder_name: test01\n  files_object: '%s'\n" % files_object)
    cfg.write_text(text)
    return cfg


def rra(cfg, *args):
    return python_m("rra.cli", "--config", cfg, *args, cwd=ROOT)


def snapshot(directory):
    out = {}
    for name in os.listdir(directory):
        st = os.stat(os.path.join(directory, name))
        out[name] = (open(os.path.join(directory, name), "rb").read(), st.st_mode, st.st_mtime_ns)
    return out


def test_a_record_comes_back_byte_for_byte_from_ucondb_alone(tmp_path):
    records = make_records(tmp_path / "records", 3000, 2)
    original = snapshot(with_odd_files(records, 3000))
    cfg = config(tmp_path, records)
    out = doit(cfg)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "files:    2 done" in out.stdout
    log = (tmp_path / "work" / "archiver.log").read_text()
    assert (
        "[run 3000] [fhiclize] not FHiCL, not in artdaqDB or the blob: Backup.fcl~, DAQInterface.log, "
        "Upper.FCL, comments.txt, config.json" in log
    )
    shutil.rmtree(records)
    shutil.rmtree(tmp_path / "work")
    back = rra(cfg, "restore", "3000", str(tmp_path / "restored"))
    assert back.returncode == 0, back.stderr
    assert "every MD5, size, mode and mtime checked" in back.stdout
    assert snapshot(tmp_path / "restored") == original
    again = rra(cfg, "restore", "3000", str(tmp_path / "restored"))
    assert again.returncode == 1 and "is not empty" in again.stderr


def test_a_re_run_uploads_nothing_and_a_stop_time_is_one_new_version_and_a_diff(tmp_path):
    records = make_records(tmp_path / "records", 3100, 2, "--running", 1)
    cfg = config(tmp_path, records)
    assert doit(cfg).returncode == 0
    db = open_ucondb("sqlite://%s" % (tmp_path / "ucondb.sqlite"), "test01", "run_record_files")
    first = db.versions()
    assert sorted(m.key for m in first) == ["3100", "3101"]
    out = doit(cfg)
    assert out.returncode == 0 and ".  " not in out.stdout  # sealed: no task at all
    assert db.versions() == first
    stop_run(records, 3101)
    out = doit(cfg)
    assert out.returncode == 0, out.stdout + out.stderr
    assert ".  files:3101" in out.stdout and ".  files:3100" not in out.stdout
    assert len(db.versions()) == 3
    shown = rra(cfg, "diff", "3101")
    assert shown.returncode == 0, shown.stderr
    assert "--- run3101@" in shown.stdout and "/metadata.txt" in shown.stdout
    added = [line for line in shown.stdout.splitlines() if line.startswith("+") and not line.startswith("+++")]
    assert any(line.startswith("+DAQInterface stop time: ") for line in added), shown.stdout
    assert any(line.startswith("+Total events: ") for line in added), shown.stdout
    blob = rra(cfg, "diff", "3101", "--blob")
    assert blob.returncode == 0 and "/metadata.fcl" in blob.stdout, blob.stdout + blob.stderr


def test_turning_files_on_archives_each_old_run_once_and_nothing_else(tmp_path):
    records = make_records(tmp_path / "records", 3200, 3)
    cfg = config(tmp_path, records, files_object="")
    out = doit(cfg)
    assert out.returncode == 0 and "files:" not in out.stdout
    assert "files_object is not set" not in out.stderr  # set empty on purpose: no notice
    cfg = config(tmp_path, records)
    out = doit(cfg)
    assert out.returncode == 0, out.stdout + out.stderr
    ran = sorted(line[3:] for line in out.stdout.splitlines() if line.startswith(".  "))
    assert ran == ["files:3200", "files:3201", "files:3202"]
    assert [line for line in doit(cfg).stdout.splitlines() if line.startswith(".  ")] == []


def test_a_legacy_config_keeps_its_behaviour_with_one_notice(tmp_path):
    records = make_records(tmp_path / "records", 3300, 2)
    cfg = config(tmp_path, records, files_object=None)
    out = doit(cfg)
    assert out.returncode == 0 and "files:" not in out.stdout
    assert out.stderr.count("ucon_db.files_object is not set") == 1


def test_without_files_object_restore_says_what_is_missing(tmp_path):
    records = make_records(tmp_path / "records", 3400, 1)
    cfg = config(tmp_path, records, files_object="")
    assert doit(cfg).returncode == 0
    back = rra(cfg, "restore", "3400", str(tmp_path / "restored"))
    assert back.returncode == 0, back.stderr
    assert "from artdaqDB" in back.stdout and "missing:" in back.stdout
    assert (tmp_path / "restored" / "metadata.fcl").exists()


def test_a_file_changed_while_it_is_read_is_archived_again(tmp_path):
    """What the stage decides from is what it read: stats in the marker, not doit's later MD5."""
    records = make_records(tmp_path / "records", 3500, 1)
    cfg = config(tmp_path, records)
    assert doit(cfg).returncode == 0
    marker = tmp_path / "work" / "runs" / "3500" / "files.json"
    meta = records / "3500" / "metadata.txt"
    before = meta.stat()
    meta.write_bytes(meta.read_bytes() + b"appended\n")
    os.utime(meta, ns=(before.st_atime_ns, before.st_mtime_ns))  # same mtime: only the size moved
    out = doit(cfg, "files:3500")
    assert ".  files:3500" in out.stdout, out.stdout  # size differs from what was read
    assert runfiles.unpack(
        open_ucondb("sqlite://%s" % (tmp_path / "ucondb.sqlite"), "test01", "run_record_files").get("3500")[0]
    )[1]["metadata.txt"][0].endswith(b"appended\n")
    assert marker.exists()


def test_the_archive_is_a_plain_tar_gz(tmp_path):
    d = tmp_path / "rec"
    d.mkdir()
    (d / "a.fcl").write_bytes(b"a: 1 # kept\n")
    (d / "x.log").write_bytes(b"\xff")
    data = runfiles.pack(7, sorted(d.iterdir()))
    assert data == runfiles.pack(7, sorted(d.iterdir()))  # deterministic
    (tmp_path / "x.tgz").write_bytes(data)
    listing = subprocess.run(["tar", "tzf", str(tmp_path / "x.tgz")], capture_output=True, text=True)
    assert listing.returncode == 0 and listing.stdout.split() == ["a.fcl", "x.log", ".rra-manifest.json"]


def test_recover_knows_the_files_and_report_counts_them(tmp_path):
    records = make_records(tmp_path / "records", 3600, 3)
    cfg = config(tmp_path, records)
    assert doit(cfg).returncode == 0
    report = rra(cfg, "report")
    assert "record files kept" in report.stdout and " 3  3600-3602" in report.stdout, report.stdout
    db = open_ucondb("sqlite://%s" % (tmp_path / "ucondb.sqlite"), "test01", "run_record_files")
    before = db.versions()
    shutil.rmtree(tmp_path / "work")
    out = rra(cfg, "recover")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "3 runs verified in UconDB's files object" in out.stdout
    again = doit(cfg)
    assert again.returncode == 0, again.stdout + again.stderr
    assert [line for line in again.stdout.splitlines() if line.startswith(".  ")] == []
    assert db.versions() == before


def test_dry_run_lists_the_files_stage_too(tmp_path):
    records = make_records(tmp_path / "records", 3700, 2, "--running", 1)
    cfg = config(tmp_path, records)
    assert doit(cfg).returncode == 0
    stop_run(records, 3701)
    dry = subprocess.run([str(ROOT / "run_archiver.sh"), str(cfg), "--dry-run"], capture_output=True, text=True)
    assert dry.returncode == 0, dry.stderr
    listed = dry.stdout.splitlines()
    assert listed == [
        "fhiclize:3701",
        "artdaqdb:3701",
        "blob:3701",
        "ucondb:3701",
        "validate:3701",
        "files:3701",
        "dry run: 1 run, 6 tasks would run (nothing was run)",
    ]
    out = doit(cfg)
    assert [line[3:] for line in out.stdout.splitlines() if line.startswith(".  ")] == listed[:-1]
