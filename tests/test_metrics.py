"""Carbon metrics against a real TCP listener on 127.0.0.1."""

import queue
import socket
import threading

import pytest

from rra import config, metrics

NOW = 1700000000


def make_cfg(tmp_path, carbon):
    """A minimal valid config with the given carbon section."""
    path = tmp_path / "config.yaml"
    path.write_text(
        "app:\n  work_dir: work\nsource_files:\n  run_records_dir: records\n"
        "artdaq_db:\n  database_uri: filesystemdb://work/db\n"
        "ucon_db:\n  server_url: sqlite://work/u.sqlite\n  folder_name: test01\n"
        "carbon:\n" + "".join("  %s: %s\n" % kv for kv in carbon.items())
    )
    return config.load(path, env={})


class Listener:
    """Accepts connections and keeps what each sent until it closed."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.stop = threading.Event()
        self.port = self.sock.getsockname()[1]
        self.received = queue.Queue()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            with conn:
                conn.settimeout(5)
                data = b""
                while chunk := conn.recv(65536):
                    data += chunk
                self.received.put(data.decode())

    def close(self):
        self.stop.set()
        self.thread.join(2)
        self.sock.close()


@pytest.fixture
def listener():
    server = Listener()
    yield server
    server.close()


def free_port():
    with socket.create_server(("127.0.0.1", 0)) as s:
        return s.getsockname()[1]


STATS = {
    "artdaqdb": {"processed": 12, "failed": 1, "duration_seconds": 34.5},
    "ucondb": {"processed": 11, "failed": 0, "duration_seconds": 2.25},
}


def test_exact_lines(tmp_path, listener):
    cfg = make_cfg(
        tmp_path, {"enabled": "true", "host": "127.0.0.1", "port": listener.port, "metric_prefix": "daq.rra"}
    )
    assert metrics.post_carbon(cfg, STATS, newest_archived=1211, now=NOW + 0.9) is None
    assert listener.received.get(timeout=5) == (
        "daq.rra.artdaqdb.processed 12 1700000000\n"
        "daq.rra.artdaqdb.failed 1 1700000000\n"
        "daq.rra.artdaqdb.duration_seconds 34.5 1700000000\n"
        "daq.rra.ucondb.processed 11 1700000000\n"
        "daq.rra.ucondb.failed 0 1700000000\n"
        "daq.rra.ucondb.duration_seconds 2.25 1700000000\n"
        "daq.rra.newest_archived_run 1211 1700000000\n"
    )


def test_names_are_made_safe_and_non_numbers_skipped():
    text = metrics.plaintext(
        "rra ",
        {"odd stage.x": {"processed": 3, "note": "x", "nan": float("nan"), "ok": True, "duration_seconds": 0.12345}},
        None,
        NOW,
    )
    assert text == (
        "rra_.odd_stage_x.processed 3 1700000000\n"
        "rra_.odd_stage_x.ok 1 1700000000\n"
        "rra_.odd_stage_x.duration_seconds 0.123 1700000000\n"
    )


def test_connection_refused_is_an_error_string(tmp_path):
    port = free_port()
    cfg = make_cfg(tmp_path, {"enabled": "true", "host": "127.0.0.1", "port": port})
    problem = metrics.post_carbon(cfg, STATS, newest_archived=1211, now=NOW)
    assert problem.startswith("carbon: cannot send 7 metrics to 127.0.0.1:%d" % port)
    assert "refused" in problem.lower()


def test_enabled_without_host_is_an_error_string(tmp_path):
    cfg = make_cfg(tmp_path, {"enabled": "true"})
    assert "carbon.host is not set" in metrics.post_carbon(cfg, STATS, now=NOW)


def test_disabled_sends_nothing(tmp_path, listener):
    cfg = make_cfg(tmp_path, {"enabled": "false", "host": "127.0.0.1", "port": listener.port})
    assert metrics.post_carbon(cfg, STATS, newest_archived=1211, now=NOW) is None
    with socket.create_connection(("127.0.0.1", listener.port)):
        pass  # a marker connection: anything the archiver sent would have come first
    assert listener.received.get(timeout=5) == ""
