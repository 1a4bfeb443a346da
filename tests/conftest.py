"""Shared fixtures: real run records, a config for them, and real doit invocations."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

import records

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"  # golden files and fixtures, copied from ../shared (see its README.md)
SHARED = ROOT.parent / "shared"
REFERENCE = SHARED / "reference"  # the real UconDB server and the real C++ artdaq_database


def need_reference(part):
    """Skip (with the reason) where ../shared/reference/<part> is absent, as on a user's clone."""
    path = REFERENCE / part
    if not path.is_dir():
        pytest.skip("needs the real %s from %s (absent on this clone)" % (part, path))
    return path


# The modules whose tests run whole catch-ups or wait on timeouts, heaviest first. They are
# handed out first, so that no worker is left with a long test while the others are idle.
LONG_FIRST = (
    "test_reference_ucondb.py",
    "test_reference_protocol.py",
    "test_safety.py",
    "test_faults.py",
    "test_operations.py",
    "test_artdaqdb_concurrency.py",
    "test_graph.py",
)


def pytest_collection_modifyitems(items):
    """With pytest-xdist, the reference tests share one worker: one real UconDB server is set up
    (setup.sh installs packages; two at once would contend) and reset between scenarios."""
    for item in items:
        if item.get_closest_marker("reference"):
            item.add_marker(pytest.mark.xdist_group("reference"))
    rank = {name: i for i, name in enumerate(LONG_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: file order otherwise


def pytest_xdist_auto_num_workers(config):
    """`-n auto`: two workers more than cores, so that the tests that wait (on a server's latency,
    a lock's timeout, a process to die) do not leave a core idle. PYTEST_XDIST_AUTO_NUM_WORKERS wins."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # xdist's own hook reads it
    return len(os.sched_getaffinity(0)) + 2


def make_records(out, first=1000, count=5, *extra):
    """Realistic run records (tests/records.py); extra: its command-line options, e.g. "--lite"."""
    args = ["--first", str(first), "--count", str(count), *map(str, extra)]
    assert records.main([str(out), *args]) == 0
    return Path(out)


def stop_run(out, run):
    """The stop transition of a running run: its metadata.txt gets the stop time."""
    records.stop(out, run)


def write_config(directory, records, extra_app="", ucon=None):
    """A config.yaml for records with everything under directory/work.

    ucon: (server_url, user, password) of a UconDB server; default the embedded store.
    """
    path = Path(directory) / "config.yaml"
    url, user, password = ucon or ("sqlite://${app.work_dir}/ucondb.sqlite", "", "")
    path.write_text(
        "app:\n  work_dir: work\n  log_file: ${work_dir}/archiver.log\n"
        "  retry_delay_seconds: 0.05\n%s"
        "source_files:\n  run_records_dir: %s\n"
        "artdaq_db:\n  database_uri: filesystemdb://${app.work_dir}/artdaqdb\n"
        "ucon_db:\n  server_url: %s\n  folder_name: test01\n  timeout_seconds: 2\n"
        "  writer_user: '%s'\n  writer_password: '%s'\n" % (extra_app, records, url, user, password)
    )
    return path


# Root reads anything; without these capabilities file permissions apply to it too.
AS_UNPRIVILEGED = (
    ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-dac_override,-dac_read_search"]
    if os.geteuid() == 0
    else []
)


def doit(cfg, *args, env=None, prefix=()):
    """Run the real doit engine on rra's dodo.py in a subprocess (warm-started: tests/launcher.py)."""
    full_env = dict(os.environ, **(env or {}))
    full_env.pop("RRA_CONFIG", None)
    return python_m("doit", "-f", ROOT / "dodo.py", *args, "config=%s" % cfg, env=full_env, cwd=ROOT, prefix=prefix)


def python_m(module, *args, env=None, cwd=None, prefix=()):
    """`python -m module ARGS` in a subprocess, as subprocess.run(capture_output=True, text=True)
    gives it; started warm (tests/launcher.py) unless a fork cannot stand in for a new interpreter.

    env: the whole environment (default this process's); cwd: default this process's.
    """
    args = [str(a) for a in args]
    cmd = [*prefix, sys.executable, "-m", module, *args]
    env = dict(os.environ) if env is None else dict(env)
    cwd = str(cwd or os.getcwd())
    launcher = None if prefix or os.environ.get("RRA_TEST_COLD") else _launcher()
    if launcher is None or launcher.start_env != _start_env(env):
        return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd)
    code, out, err = launcher.run(module, args, env, cwd)
    return subprocess.CompletedProcess(cmd, code, out, err)


def start_m(module, *args, env=None, cwd=None, stdout=None, stderr=None, start_new_session=False):
    """`python -m module ARGS` in the background, as subprocess.Popen starts it (text mode); warm
    (tests/launcher.py) where a fork can stand in for a new interpreter: then what the tests use
    of Popen is there (pid, stdout, poll, wait, send_signal, returncode), and signals, process
    groups and kill -9 act on the real process that runs the module.

    stdout: subprocess.PIPE or an open file; stderr: an open file.
    """
    args = [str(a) for a in args]
    env = dict(os.environ) if env is None else dict(env)
    cwd = str(cwd or os.getcwd())
    launcher = None if os.environ.get("RRA_TEST_COLD") else _launcher()
    if launcher is None or launcher.start_env != _start_env(env):
        return subprocess.Popen(
            [sys.executable, "-m", module, *args],
            stdout=stdout,
            stderr=stderr,
            text=True,
            env=env,
            cwd=cwd,
            start_new_session=start_new_session,
        )
    read = None
    if stdout == subprocess.PIPE:
        read, write = os.pipe()
    else:
        write = stdout.fileno()
    try:
        proc = launcher.start(module, args, env, cwd, write, stderr.fileno(), new_session=start_new_session)
    finally:
        if read is not None:
            os.close(write)  # the child holds it now: end of file when it exits
    proc.stdout = open(read, encoding="utf-8") if read is not None else None
    return proc


# What an interpreter or the dynamic loader reads only at start: a fork cannot change it.
_AT_START = ("PYTHON", "LC_", "LANG", "LD_", "TZ")
_launchers = []


def _start_env(env):
    return {k: v for k, v in env.items() if k.startswith(_AT_START)}


def _launcher():
    """This process's doit launcher, started on first use and stopped at exit."""
    if not _launchers:
        import atexit
        import tempfile

        from launcher import Launcher

        launcher = Launcher(tempfile.mkdtemp(prefix="rra-launcher-"))
        launcher.start_env = _start_env(os.environ)
        atexit.register(launcher.close)
        _launchers.append(launcher)
    return _launchers[0]


UCON_PASSWORD = "test-Secret-4"


@pytest.fixture
def server(tmp_path):
    """The UconDB test server (real HTTP on 127.0.0.1, digest auth as writer/UCON_PASSWORD)."""
    from testserver import TestServer

    with TestServer(tmp_path / "server.sqlite", folders=["test01"], password=UCON_PASSWORD) as srv:
        yield srv


@pytest.fixture(scope="session")
def real_ucondb_instance():
    """The real UconDB server, installed once per test session (skips without ../shared)."""
    from real_ucondb import RealUconDB

    instance = RealUconDB(need_reference("ucondb"))
    yield instance
    instance.remove()


@pytest.fixture
def real_ucondb(real_ucondb_instance):
    """The real UconDB server, reset: empty folders run_records and test01, running."""
    return real_ucondb_instance.reset()


@pytest.fixture
def reference_conftoolp(monkeypatch):
    """The real conftoolp module importable in this process, and forgotten again after the test
    (other tests expect it not importable)."""
    ref = need_reference("artdaq_database")
    monkeypatch.syspath_prepend(str(ref / "python"))
    try:
        import conftoolp  # noqa: F401
    except ImportError as e:
        pytest.skip("the reference conftoolp does not load in this Python (%s)" % e)
    yield ref
    for name in ("conftoolp", "_conftoolp"):
        sys.modules.pop(name, None)
