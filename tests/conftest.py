"""Shared fixtures: real run records, a config for them, and real doit invocations."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
MAKE_RECORDS = SHARED / "tools" / "make_run_records.py"
REFERENCE = SHARED / "reference"  # the real UconDB server and the real C++ artdaq_database


def need_reference(part):
    """Skip (with the reason) where ../shared/reference/<part> is absent, as on a user's clone."""
    path = REFERENCE / part
    if not path.is_dir():
        pytest.skip("needs the real %s from %s (absent on this clone)" % (part, path))
    return path


def make_records(out, first=1000, count=5, *extra):
    """Realistic run records from the shared generator."""
    subprocess.run([sys.executable, str(MAKE_RECORDS), str(out), "--first", str(first),
                    "--count", str(count), *map(str, extra)], check=True,
                   stdout=subprocess.DEVNULL)
    return Path(out)


def stop_run(out, run):
    subprocess.run([sys.executable, str(MAKE_RECORDS), str(out), "--stop", str(run)],
                   check=True, stdout=subprocess.DEVNULL)


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
        "  writer_user: '%s'\n  writer_password: '%s'\n"
        % (extra_app, records, url, user, password))
    return path


# Root reads anything; without these capabilities file permissions apply to it too.
AS_UNPRIVILEGED = (["setpriv", "--bounding-set=-dac_override,-dac_read_search",
                    "--inh-caps=-dac_override,-dac_read_search"] if os.geteuid() == 0 else [])


def doit(cfg, *args, env=None, prefix=()):
    """Run the real doit engine on rra's dodo.py in a subprocess."""
    cmd = [*prefix, sys.executable, "-m", "doit", "-f", str(ROOT / "dodo.py"), *args, "config=%s" % cfg]
    full_env = dict(os.environ, **(env or {}))
    full_env.pop("RRA_CONFIG", None)
    return subprocess.run(cmd, capture_output=True, text=True, env=full_env, cwd=str(ROOT))


@pytest.fixture
def shared():
    return SHARED


UCON_PASSWORD = "test-Secret-4"


@pytest.fixture
def server(tmp_path):
    """The UconDB test server (real HTTP on 127.0.0.1, digest auth as writer/UCON_PASSWORD)."""
    from rra.ucondb.testserver import TestServer
    with TestServer(tmp_path / "server.sqlite", folders=["test01"], password=UCON_PASSWORD) as srv:
        yield srv


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
