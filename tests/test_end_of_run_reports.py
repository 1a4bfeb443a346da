"""At the end of a doit invocation: one Slack message for all failures, and Carbon metrics."""

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from conftest import doit, make_records, write_config


class Slack(BaseHTTPRequestHandler):
    received = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Slack.received.append((self.headers["Authorization"], json.loads(body)))
        answer = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


def carbon_listener():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(5)
    lines = []

    def serve():
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while chunk := conn.recv(65536):
                    data += chunk
                lines.extend(data.decode().splitlines())

    threading.Thread(target=serve, daemon=True).start()
    return sock, lines


def test_failures_go_out_once_and_metrics_are_posted(tmp_path):
    records = make_records(tmp_path / "records", 700, 4)
    for run in (701, 703):  # two bad records
        bad = records / str(run) / "ranks.txt"
        bad.chmod(0o644)
        bad.write_bytes(b"\x00\x01binary")
    slack = ThreadingHTTPServer(("127.0.0.1", 0), Slack)
    threading.Thread(target=slack.serve_forever, daemon=True).start()
    carbon, lines = carbon_listener()
    try:
        cfg = write_config(tmp_path, records)
        cfg.write_text(
            cfg.read_text()
            + (
                "reporting:\n  slack:\n    enabled: true\n    bot_token: xoxb-secret-77\n"
                "    channel: '#daq'\n    api_url: http://127.0.0.1:%d/api/chat.postMessage\n"
                "carbon:\n  enabled: true\n  host: 127.0.0.1\n  port: %d\n  metric_prefix: sbnd.rra\n"
                % (slack.server_address[1], carbon.getsockname()[1])
            )
        )
        out = doit(cfg)
        assert out.returncode == 1
        assert "xoxb-secret-77" not in out.stdout + out.stderr
    finally:
        slack.shutdown()
        carbon.close()
    assert len(Slack.received) == 1  # one message per invocation, not one per run
    auth, body = Slack.received[0]
    assert auth == "Bearer xoxb-secret-77" and body["channel"] == "#daq"
    assert "701" in body["text"] and "703" in body["text"] and "fhiclize" in body["text"]
    metrics = {line.split()[0]: float(line.split()[1]) for line in lines}
    assert metrics["sbnd.rra.fhiclize.failed"] == 2
    assert metrics["sbnd.rra.validate.processed"] == 2
    assert metrics["sbnd.rra.newest_archived_run"] == 702
