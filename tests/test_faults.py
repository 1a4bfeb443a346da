"""Fault injection on the real graph: kill -9, a flaky UconDB, bad run records, a full disk.

Everything runs for real: doit in subprocesses on rra's dodo.py, real files under
tmp_path, the UconDB test server on 127.0.0.1. Nothing is mocked. Randomness is seeded.
The long variants are marked `slow`; the default run has a short version of each.
"""

import hashlib
import json
import os
import random
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import AS_UNPRIVILEGED, ROOT, make_records, start_m, write_config
from rra.blob import unpack
from rra.ucondb import open_ucondb
from testserver import TestServer

PASSWORD = "faults-Secret-3"
TIMEOUT = 600  # seconds for one doit invocation: generous, the machine may be busy
FAILED = re.compile(r"^FAILED (\w+):(\d+): (.*)$")

# Runs doit's main in this process after ignoring SIGXFSZ, so that a write past
# RLIMIT_FSIZE fails with EFBIG instead of killing the process (CPython ignores the
# signal too, but this does not rely on it).
NO_SIGXFSZ = r"""
import signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
from doit.cmd_base import DodoTaskLoader
from doit.doit_cmd import DoitMain
sys.exit(DoitMain(DodoTaskLoader()).run(sys.argv[1:]))
"""


# -- helpers -----------------------------------------------------------------------------


def command(cfg, *args, prefix=(), wrapper=False):
    head = [sys.executable, "-c", NO_SIGXFSZ] if wrapper else [sys.executable, "-m", "doit"]
    return [*prefix, *head, "-f", str(ROOT / "dodo.py"), *args, "config=%s" % cfg]


def environment():
    env = dict(os.environ)
    env.pop("RRA_CONFIG", None)
    return env


def run_doit(cfg, *args, prefix=(), limits=(), wrapper=False, timeout=TIMEOUT):
    """(exit code, stdout, stderr) of one real doit invocation; a hang fails the test.

    limits: [(resource.RLIMIT_..., value)] set in the child before it starts.
    """

    def preexec():
        for which, value in limits:
            resource.setrlimit(which, (value, value))

    if prefix or limits or wrapper:  # a new interpreter, its output in pipes (not under RLIMIT_FSIZE)
        proc = subprocess.Popen(
            command(cfg, *args, prefix=prefix, wrapper=wrapper),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=str(ROOT),
            env=environment(),
            start_new_session=True,
            preexec_fn=preexec if limits else None,
        )
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            pytest.fail("doit %s hung for %d s:\n%s\n%s" % (" ".join(args), timeout, out[-3000:], err[-3000:]))
        return proc.returncode, out, err
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = start_m(
            *command(cfg, *args)[2:], env=environment(), cwd=ROOT, stdout=out, stderr=err, start_new_session=True
        )
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            pytest.fail("doit %s hung for %d s:\n%s\n%s" % (" ".join(args), timeout, tail(out), tail(err)))
        return proc.returncode, tail(out, None), tail(err, None)


def tail(f, size=3000):
    """What was written to the temporary file f (its last size characters)."""
    f.seek(0)
    text = f.read()
    return text[-size:] if size else text


def failures(out):
    """{task name: [messages]} of the FAILED lines."""
    found = {}
    for line in out.splitlines():
        m = FAILED.match(line)
        if m:
            found.setdefault("%s:%s" % (m.group(1), m.group(2)), []).append(m.group(3))
    return found


def executed(out):
    return [line[3:].strip() for line in out.splitlines() if line.startswith(".  ")]


def runs_dir(tmp_path):
    return tmp_path / "work" / "runs"


def validated(tmp_path, runs):
    return [r for r in runs if (runs_dir(tmp_path) / str(r) / "validated.md5").exists()]


def one_version_per_run(server, runs):
    versions = open_ucondb(server.url, "test01", "configuration").versions()
    keys = [m.key for m in versions]
    assert len(keys) == len(set(keys)), "duplicate uploads: %s" % sorted(k for k in set(keys) if keys.count(k) > 1)
    assert sorted(keys) == sorted(str(r) for r in runs)
    assert len(versions) == len(runs)


def live_members(pgid):
    """Pids of the process group that are not zombies (orphans wait for init to reap them)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path("/proc", entry, "stat").read_text()
            except OSError:
                continue
            state, _, group = stat.rpartition(")")[2].split()[:3]
            if int(group) == pgid and state != "Z":
                pids.append(int(entry))
    return pids


def artdaqdb_check(tmp_path):
    """`rra artdaqdb check` finds no problem: no stale index entry, orphan document or temp file."""
    uri = "filesystemdb://%s" % (tmp_path / "work" / "artdaqdb")
    proc = subprocess.run(
        [sys.executable, "-m", "rra.cli", "artdaqdb", "check", uri],
        capture_output=True,
        text=True,
        cwd=str(ROOT),
        env=environment(),
        timeout=TIMEOUT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def clean(out, err):
    assert "Traceback" not in out + err, out[-3000:] + err[-3000:]


def writable(path):
    """Run records are 0444 files in 0555 directories: make one run directory editable."""
    path.chmod(0o755)
    for p in path.iterdir():
        if p.is_file() and not p.is_symlink():
            p.chmod(0o644)


def sealed(path):
    for p in path.iterdir():
        if p.is_file() and not p.is_symlink():
            p.chmod(0o444)
    path.chmod(0o555)


def targets_intact(tmp_path):
    """Every target that exists is complete: parses, and says what its inputs say."""
    for run_dir in runs_dir(tmp_path).iterdir():
        manifest = run_dir / "fhicl" / "manifest.json"
        if manifest.exists():
            files = json.loads(manifest.read_text())["files"]
            for name, md5 in files.items():
                data = (run_dir / "fhicl" / name).read_bytes()
                assert hashlib.md5(data).hexdigest() == md5, (run_dir, name)
        marker = run_dir / "artdaqdb.json"
        if marker.exists():
            doc = json.loads(marker.read_text())
            assert {"configuration", "version", "entities", "stored_at"} <= set(doc), marker
            assert doc["configuration"].startswith(run_dir.name + "/")
        blob = run_dir / "blob.txt"
        if blob.exists():
            assert unpack(blob.read_bytes())[0] == int(run_dir.name)
        ucon = run_dir / "ucondb.json"
        if ucon.exists():
            doc = json.loads(ucon.read_text())
            assert doc["key"] == run_dir.name and doc["version_id"], ucon
            assert doc["md5"] == hashlib.md5(blob.read_bytes()).hexdigest(), ucon
        md5 = run_dir / "validated.md5"
        if md5.exists():
            assert md5.read_text().startswith(hashlib.md5(blob.read_bytes()).hexdigest() + "  blob.txt\n"), md5
    for index in (tmp_path / "work" / "artdaqdb").rglob("index.json"):
        json.loads(index.read_text())
    artdaqdb_check(tmp_path)


@pytest.fixture
def server(tmp_path):
    with TestServer(tmp_path / "server.sqlite", folders=["test01"], password=PASSWORD, latency_ms=5) as srv:
        yield srv


# -- 1. kill -9 of the whole process tree at a random instant ----------------------------

FULL_S = 3.5  # a full catch-up of 60 --lite runs with -n 2 on a 2-core machine (measured 3.5 s)
KILL_SEEDS = [pytest.param(s, id="seed%d" % s) for s in (3, 9)] + [
    pytest.param(s, id="seed%d" % s, marks=pytest.mark.slow) for s in range(100, 120)
]


@pytest.mark.parametrize("seed", KILL_SEEDS)
def test_kill_9_of_the_tree_at_a_random_instant_then_a_rerun_converges(tmp_path, server, seed):
    runs = list(range(1, 61))
    records = make_records(tmp_path / "records", 1, 60, "--lite")
    cfg = write_config(tmp_path, records, ucon=(server.url, "writer", PASSWORD))
    delay = random.Random(seed).uniform(0.2, FULL_S)
    with open(tmp_path / "killed.out", "w") as out, open(tmp_path / "killed.err", "w") as err:
        proc = start_m(
            *command(cfg, "-n", "2")[2:], env=environment(), cwd=ROOT, stdout=out, stderr=err, start_new_session=True
        )
        try:
            proc.wait(timeout=delay)  # finished before the kill: the re-run is a no-op then
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass  # it finished as the kill came (a warm child is reaped at once): no kill
            assert proc.wait(timeout=60) in (0, -signal.SIGKILL)
    if proc.returncode == -signal.SIGKILL:  # no worker of the group survives the kill
        deadline = time.monotonic() + 10
        while live_members(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert live_members(proc.pid) == []

    code, out, err = run_doit(cfg, "-n", "2")
    assert code == 0, "after a kill at %.2f s:\n%s\n%s" % (delay, out[-3000:], err[-3000:])
    clean(out, err)
    assert validated(tmp_path, runs) == runs
    artdaqdb_check(tmp_path)  # the re-run swept temp files and rolled back cut-short stores
    one_version_per_run(server, runs)
    code, out, err = run_doit(cfg, "-n", "2")  # and it stays converged
    assert code == 0 and executed(out) == [], out + err


# Kills the process at its first rename of an artdaqDB temp file: documents written, not renamed.
KILL_IN_ARTDAQDB_WRITE = r"""
import os, signal, sys
real = os.replace
def replace(src, dst, *args, **kwargs):
    if os.path.basename(str(src)).startswith(".rra-tmp."):
        os.kill(os.getpid(), signal.SIGKILL)
    return real(src, dst, *args, **kwargs)
os.replace = replace
from doit.cmd_base import DodoTaskLoader
from doit.doit_cmd import DoitMain
sys.exit(DoitMain(DodoTaskLoader()).run(sys.argv[1:]))
"""


def test_a_kill_during_an_artdaqdb_write_leaves_nothing_check_complains_about(tmp_path):
    runs = [700, 701]
    records = make_records(tmp_path / "records", 700, 2, "--lite")
    cfg = write_config(tmp_path, records)
    proc = subprocess.run(
        [sys.executable, "-c", KILL_IN_ARTDAQDB_WRITE, "-f", str(ROOT / "dodo.py"), "config=%s" % cfg],
        capture_output=True,
        text=True,
        cwd=str(ROOT),
        env=environment(),
        timeout=TIMEOUT,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stdout + proc.stderr
    code, out, err = run_doit(cfg)
    assert code == 0, out + err
    assert validated(tmp_path, runs) == runs
    artdaqdb_check(tmp_path)


# -- 2. a flaky server: 503s, hangs, resets; answers lost after the data was stored ------


def test_flaky_server_converges_with_one_version_per_run(tmp_path):
    runs = list(range(500, 530))
    records = make_records(tmp_path / "records", 500, 30, "--lite")
    with TestServer(
        tmp_path / "server.sqlite",
        folders=["test01"],
        password=PASSWORD,
        latency_ms=2,
        p_503=0.1,
        p_hang=0.1,
        p_reset=0.1,
        hang_s=1.5,
        seed=20240301,
    ) as srv:
        # The dangerous case for duplicates: the upload is stored, its answer never comes.
        srv.fail_next("hang_after", "hang_after", "hang_after", "hang_after", method="POST")
        cfg = write_config(
            tmp_path, records, extra_app="  run_process_retries: 6\n", ucon=(srv.url, "writer", PASSWORD)
        )
        text = cfg.read_text()
        assert "timeout_seconds: 2\n" in text
        cfg.write_text(text.replace("timeout_seconds: 2\n", "timeout_seconds: 0.5\n"))
        invocations = []
        for _ in range(5):
            code, out, err = run_doit(cfg, "-n", "2")
            invocations.append(code)
            clean(out, err)
            if code != 1:
                break
        assert code == 0, "exit codes %s\n%s\n%s" % (invocations, out[-3000:], err[-3000:])
        assert validated(tmp_path, runs) == runs
        srv.p_503 = srv.p_hang = srv.p_reset = 0.0  # look at the result without faults
        one_version_per_run(srv, runs)
        assert srv.count("POST") >= 30
    log = (tmp_path / "work" / "archiver.log").read_text()
    assert "retry" in log, "no fault was injected: the test proves nothing"
    artdaqdb_check(tmp_path)


# -- 3. a corpus of bad run records among good ones --------------------------------------

MB50 = 50 << 20
BIG = 20 << 20  # over the 16 MB a record file may hold (rra/fhiclize/record.py)


def snapshot(root, skip):
    """Every entry under root except skip: what a write, a chmod or a new file would change."""
    seen = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if Path(dirpath, d) != skip]
        for name in dirnames + filenames + ["."]:
            path = os.path.normpath(os.path.join(dirpath, name))
            st = os.lstat(path)
            seen[path] = (st.st_mode, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    return seen


def atime_is_updated_by_a_read(tmp_path):
    """relatime updates atime when it is older than mtime; check this filesystem does it."""
    probe = tmp_path / "atime-probe"
    probe.write_text("x\n")
    st = probe.stat()
    os.utime(probe, ns=(st.st_mtime_ns - 86400 * 10**9, st.st_mtime_ns))
    before = probe.stat().st_atime_ns
    probe.read_bytes()
    updated = probe.stat().st_atime_ns != before
    probe.unlink()
    return updated


def test_bad_run_records_fail_alone_clearly_and_nothing_outside_work_is_touched(tmp_path):
    records = make_records(tmp_path / "records", 100, 11)  # 100..110: the corpus
    make_records(records, 111, 39, "--lite")  # 111..149: more good runs
    make_records(records, 150, 1)  # 150: a FHiCL syntax error, see below
    outside = tmp_path / "outside"
    outside.mkdir()
    target = outside / "secret.fcl"
    target.write_text("secret: 1\n")
    fifo = outside / "pipe.fcl"
    os.mkfifo(fifo)

    def damage(run, name, data):
        d = records / str(run)
        writable(d)
        (d / name).write_bytes(data)
        sealed(d)

    damage(100, "boot.txt", (records / "100" / "boot.txt").read_bytes() + b"\0\0\x01\x02binary\n")
    damage(101, "settings.txt", b"PMT host: caf\xe9.example.org\n")
    damage(102, "metadata.txt", b"")
    meta = (records / "103" / "metadata.txt").read_bytes()
    damage(103, "metadata.txt", meta[: len(meta) // 2].rstrip(b"\n"))
    writable(records / "104")
    os.symlink(target, records / "104" / "DataLogger9.fcl")
    sealed(records / "104")
    writable(records / "105")
    os.symlink(fifo, records / "105" / "Dispatcher9.fcl")  # opening it would block
    sealed(records / "105")
    # 107: a 20 MB extra text file (no converter: not part of the FHiCL set);
    # 108: a 20 MB valid FHiCL file (one long string): over the 16 MB a record file may
    # hold (parsing costs ~170x a file's size, over the 2 GB the run may take), so it fails
    # fhiclize with a clear line.
    damage(107, "big.txt", (b"y" * 99 + b"\n") * (BIG // 100))
    damage(108, "Big1.fcl", b'big: "' + b"x" * BIG + b'"\n')
    (records / "12a").mkdir()  # not a run: not archived, one warning
    (records / "12a" / "metadata.txt").write_text("Config name: x\n")
    # A FHiCL error passes fhiclize (.fcl files are copied as they are) and fails artdaqdb.
    # It is run 150: all 51 runs form one store batch (one worker), so it shares its
    # batch with good runs, which must still be stored.
    damage(150, "EventBuilder1.fcl", b"a: {\n")
    (records / "106").chmod(0o000)
    cfg = write_config(tmp_path, records)
    (tmp_path / "work").mkdir()

    expected = {
        100: ("fhiclize", "boot.txt"),
        101: ("fhiclize", "settings.txt"),
        102: ("fhiclize", "metadata.txt"),
        103: ("fhiclize", "metadata.txt"),
        104: ("fhiclize", "DataLogger9.fcl"),
        105: ("fhiclize", "Dispatcher9.fcl"),
        106: ("fhiclize", str(records / "106")),
        108: ("fhiclize", "Big1.fcl"),
        150: ("artdaqdb", "EventBuilder1.fcl"),
    }
    good = [r for r in range(100, 151) if r not in expected]
    check_atime = atime_is_updated_by_a_read(tmp_path)
    st = target.stat()
    os.utime(target, ns=(st.st_mtime_ns - 86400 * 10**9, st.st_mtime_ns))
    target_atime = target.stat().st_atime_ns
    before = snapshot(tmp_path, tmp_path / "work")
    try:
        start = time.monotonic()
        code, out, err = run_doit(cfg, prefix=AS_UNPRIVILEGED, timeout=300, limits=[(resource.RLIMIT_AS, 2 << 30)])
        elapsed = time.monotonic() - start
        after = snapshot(tmp_path, tmp_path / "work")
        again = run_doit(cfg, prefix=AS_UNPRIVILEGED, timeout=300)
    finally:
        (records / "106").chmod(0o555)

    assert code == 1, out[-3000:] + err[-3000:]
    clean(out, err)
    failed = failures(out)
    assert sorted(failed) == sorted("%s:%d" % (stage, run) for run, (stage, _) in expected.items())
    for run, (stage, name) in expected.items():
        [message] = failed["%s:%d" % (stage, run)]  # exactly one line
        assert "[run %d]" % run in message and name in message, message
    assert not (runs_dir(tmp_path) / "12a").exists() and "12a" not in out  # not a run: one warning
    assert [line for line in err.splitlines() if "'12a'" in line and "are not runs" in line] == [
        line for line in err.splitlines() if "12a" in line
    ]
    assert len([line for line in err.splitlines() if "12a" in line]) == 1
    assert validated(tmp_path, good) == good
    assert before == after, "written outside the work dir: %s" % sorted(set(before.items()) ^ set(after.items()))
    if check_atime:
        assert target.stat().st_atime_ns == target_atime, "the symlink's target was read"
    assert elapsed < 240, "the corpus took %.0f s" % elapsed
    targets_intact(tmp_path)

    code, out, err = again  # the next tick: the same runs fail the same way, nothing else runs
    assert code == 1 and sorted(failures(out)) == sorted(failed), out + err
    assert all(t.split(":")[1] in {str(r) for r in expected} for t in executed(out)), out


def test_a_fhicl_syntax_error_fails_only_its_own_run(tmp_path):
    records = make_records(tmp_path / "records", 200, 4)
    writable(records / "201")
    (records / "201" / "EventBuilder1.fcl").write_bytes(b"a: {\n")
    sealed(records / "201")
    cfg = write_config(tmp_path, records)
    for _ in range(2):  # and it does not heal on the next tick either
        code, out, err = run_doit(cfg)
        assert code == 1
        clean(out, err)
        assert sorted(failures(out)) == ["artdaqdb:201"], out
    assert validated(tmp_path, [200, 201, 202, 203]) == [200, 202, 203]
    # The bad run left its batch; the three good ones were still stored together, in one
    # index write (not each on its own).
    journal = tmp_path / "work" / "artdaqdb" / ".rra-journal.SystemLayout"
    stores = [sorted(int(d["runs"][0]) for d in json.loads(line)["docs"]) for line in journal.read_text().splitlines()]
    assert stores == [[200, 202, 203]], stores


@pytest.mark.slow  # near the memory limit it has also spun at 100% CPU for >12 min
def test_a_50_mb_fhicl_file_of_parameters_archives_or_fails_clearly_in_bounded_memory(tmp_path):
    records = make_records(tmp_path / "records", 300, 1)
    writable(records / "300")
    (records / "300" / "Big1.fcl").write_bytes(b"".join(b"p%07d: %d\n" % (i, i) for i in range(MB50 // 15)))
    sealed(records / "300")
    cfg = write_config(tmp_path, records)
    code, out, err = run_doit(cfg, timeout=120, limits=[(resource.RLIMIT_AS, 1 << 30)])
    clean(out, err)
    assert code in (0, 1), out[-3000:] + err[-3000:]
    if code == 1:
        failed = list(failures(out).values())
        assert len(failed) == 1 and len(failed[0]) == 1, out[-3000:] + err[-3000:]
        assert "[run 300]" in failed[0][0] and "Big1.fcl" in failed[0][0], failed
    else:
        assert validated(tmp_path, [300]) == [300]


# -- 4. disk full (RLIMIT_FSIZE) while writing targets -----------------------------------


def extra_fcl(n):
    """A valid FHiCL file of about 6 kB."""
    return "".join(
        'extra%d_param_%03d: "value %d of an extra parameter set"\n' % (n, i, i) for i in range(120)
    ).encode()


def test_disk_full_a_blob_that_does_not_fit_fails_clearly_and_a_rerun_converges(tmp_path, server):
    runs = [100, 101, 102]
    records = make_records(tmp_path / "records", 100, 3)
    writable(records / "101")
    for n in range(1, 6):  # run 101's blob grows to ~57 kB; every single file stays small
        (records / "101" / ("Extra%d.fcl" % n)).write_bytes(extra_fcl(n))
    sealed(records / "101")
    cfg = write_config(tmp_path, records, ucon=(server.url, "writer", PASSWORD))
    limit = 40 << 10  # fits every file but run 101's blob (blobs of the others: ~27 kB)
    code, out, err = run_doit(cfg, wrapper=True, limits=[(resource.RLIMIT_FSIZE, limit)])
    assert code == 1, out[-3000:] + err[-3000:]
    clean(out, err)
    failed = failures(out)
    assert sorted(failed) == ["blob:101"], out
    [message] = failed["blob:101"]
    assert "[run 101]" in message and "File too large" in message, message
    assert validated(tmp_path, runs) == [100, 102]
    assert not (runs_dir(tmp_path) / "101" / "blob.txt").exists()
    assert not [p for p in runs_dir(tmp_path).rglob("*") if p.name.endswith((".tmp", ".old"))]
    targets_intact(tmp_path)

    code, out, err = run_doit(cfg)  # disk freed
    assert code == 0, out[-3000:] + err[-3000:]
    assert validated(tmp_path, runs) == runs
    targets_intact(tmp_path)
    one_version_per_run(server, runs)


def test_disk_full_the_artdaqdb_index_and_doit_state_do_not_fit(tmp_path, server):
    runs = list(range(100, 108))
    records = make_records(tmp_path / "records", 100, 8)
    cfg = write_config(tmp_path, records, ucon=(server.url, "writer", PASSWORD))
    limit = 24 << 10  # the RunHistory index of 8 runs is ~28 kB, .doit.db ~48 kB
    first = run_doit(cfg, wrapper=True, limits=[(resource.RLIMIT_FSIZE, limit)])
    code, out, err = first
    failed = failures(out)
    assert failed, out + err
    for task, messages in failed.items():
        assert len(messages) == 1 and "File too large" in messages[0], (task, messages)
    assert len(validated(tmp_path, runs)) < len(runs)  # (a run stored alone may still fit)
    targets_intact(tmp_path)

    code, out, err = run_doit(cfg)  # disk freed
    assert code == 0, out[-3000:] + err[-3000:]
    assert validated(tmp_path, runs) == runs
    targets_intact(tmp_path)  # the stores cut short were rolled back: no stale entry, no orphan
    one_version_per_run(server, runs)

    code, out, err = first  # doit could not save its state: one line, exit 1, no traceback
    clean(out, err)
    assert code == 1


def test_disk_full_the_log_and_the_lock_note_do_not_fit_then_a_tick_converges(tmp_path, server):
    runs = [100, 101, 102]
    records = make_records(tmp_path / "records", 100, 3)
    writable(records / "101")
    for n in range(1, 6):  # run 101's blob (~57 kB) does not fit, the others' do
        (records / "101" / ("Extra%d.fcl" % n)).write_bytes(extra_fcl(n))
    sealed(records / "101")
    cfg = write_config(tmp_path, records, ucon=(server.url, "writer", PASSWORD))
    limit = 40 << 10
    log = tmp_path / "work" / "archiver.log"
    log.parent.mkdir()
    log.write_bytes(b"-" * limit)  # every line logged from now on fails to be written
    code, out, err = run_doit(cfg, wrapper=True, limits=[(resource.RLIMIT_FSIZE, limit)])
    assert code == 1, out[-3000:] + err[-3000:]
    clean(out, err)
    assert "Logging error" not in err and err.count("cannot write the log file") == 1, err
    assert sorted(failures(out)) == ["blob:101"] and len(failures(out)["blob:101"]) == 1
    assert validated(tmp_path, runs) == [100, 102]

    # Still full: not even the lock's note fits. One line, exit 1, nothing else touched.
    code, out, err = run_doit(cfg, wrapper=True, limits=[(resource.RLIMIT_FSIZE, 16)])
    assert code == 1, out[-3000:] + err[-3000:]
    clean(out, err)
    assert "cannot take the archiver lock" in err and "File too large" in err, err
    assert len([line for line in (out + err).splitlines() if line.strip()]) <= 2, out + err

    log.write_bytes(b"")  # space freed
    code, out, err = run_doit(cfg)
    assert code == 0, out[-3000:] + err[-3000:]
    clean(out, err)
    assert validated(tmp_path, runs) == runs
    targets_intact(tmp_path)
    one_version_per_run(server, runs)
