"""Failure notices against a real SMTP server and a real HTTP stand-in for Slack on 127.0.0.1."""

import base64
import email
import email.policy
import json
import logging
import socket
import socketserver
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from rra import config, notify
from rra.notify import Failure

PASSWORD = "smtp-s3cret-pw"
TOKEN = "xoxb-s3cret-token"
OPENSSL = Path("/usr/bin/openssl")

FAILURES = [
    Failure(1207, "ucondb", "HTTP 500 from server"),
    Failure(1210, "ucondb", "Traceback ...\n  File x\nConnectionError: refused"),
    Failure(1211, "ucondb", "ConnectionError: refused"),
    Failure(1207, "artdaqdb", "bulkloader exited 3"),
    Failure(1300, "fhiclize", "metadata.txt: bad line <7>"),
]


def make_cfg(tmp_path, email=None, slack=None):
    """A minimal valid config with the given reporting sections."""

    def section(name, values):
        return "  %s:\n" % name + "".join("    %s: %s\n" % kv for kv in values.items()) if values else ""

    path = tmp_path / "config.yaml"
    path.write_text(
        "app:\n  work_dir: work\nsource_files:\n  run_records_dir: records\n"
        "artdaq_db:\n  database_uri: filesystemdb://work/db\n"
        "ucon_db:\n  server_url: sqlite://work/u.sqlite\n  folder_name: test01\n"
        "reporting:\n" + section("email", email) + section("slack", slack)
    )
    return config.load(path, env={})


@pytest.fixture
def logs():
    """Every record the 'rra' logger emits, whatever log.setup did to it."""
    records = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = lambda record: records.append(record.getMessage())
    logger = logging.getLogger("rra")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield records
    logger.removeHandler(handler)
    logger.setLevel(old_level)


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


def free_port():
    with socket.create_server(("127.0.0.1", 0)) as s:
        return s.getsockname()[1]


def assert_no_secret(*texts):
    for text in texts:
        assert PASSWORD not in text and TOKEN not in text
        for secret in (PASSWORD, TOKEN):
            assert base64.b64encode(secret.encode()).decode() not in text


# ---- a small SMTP server: enough of RFC 5321 for smtplib, with AUTH and STARTTLS ----


class SMTPHandler(socketserver.StreamRequestHandler):
    def reply(self, *lines):
        self.wfile.write(
            "".join(
                "%s%s%s\r\n" % (line[:3], "-" if i < len(lines) - 1 else " ", line[4:]) for i, line in enumerate(lines)
            ).encode()
        )
        self.wfile.flush()

    def line(self):
        return self.rfile.readline().decode().rstrip("\r\n")

    def handle(self):
        srv, tls, user = self.server, False, None
        self.reply("220 test ESMTP")
        while True:
            command = self.line()
            verb, _, arg = command.partition(" ")
            verb = verb.upper()
            if verb == "EHLO":
                caps = ["250 test"] + (["250 STARTTLS"] if srv.tls and not tls else [])
                caps += ["250 AUTH " + srv.auth] if srv.auth else []
                self.reply(*caps + ["250 8BITMIME"])
            elif verb == "HELO":
                self.reply("250 test")
            elif verb == "STARTTLS" and srv.tls:
                self.reply("220 go ahead")
                self.connection = srv.tls.wrap_socket(self.connection, server_side=True)
                self.rfile, self.wfile = self.connection.makefile("rb"), self.connection.makefile("wb")
                tls = True
            elif verb == "AUTH":
                mechanism, _, initial = arg.partition(" ")
                if mechanism.upper() == "PLAIN":
                    if not initial:
                        self.reply("334 ")
                        initial = self.line()
                    _, name, password = base64.b64decode(initial).decode().split("\0")
                else:  # LOGIN
                    if not initial:
                        self.reply("334 VXNlcm5hbWU6")
                        initial = self.line()
                    self.reply("334 UGFzc3dvcmQ6")
                    name = base64.b64decode(initial).decode()
                    password = base64.b64decode(self.line()).decode()
                if (name, password) == srv.credentials:
                    user = (mechanism.upper(), name)
                    self.reply("235 ok")
                else:
                    self.reply("535 5.7.8 authentication failed")
            elif verb == "MAIL":
                if srv.credentials and not user:
                    self.reply("530 5.7.0 authentication required")
                    continue
                mail = {"from": arg.split("<", 1)[1].split(">", 1)[0], "to": [], "auth": user, "tls": tls}
                self.reply("250 ok")
            elif verb == "RCPT":
                mail["to"].append(arg.split("<", 1)[1].split(">", 1)[0])
                self.reply("250 ok")
            elif verb == "DATA":
                self.reply("354 end with .")
                body = []
                while (line := self.rfile.readline()) not in (b".\r\n", b""):
                    body.append(line[1:] if line.startswith(b".") else line)
                mail["message"] = email.message_from_bytes(b"".join(body), policy=email.policy.default)
                srv.mails.append(mail)
                self.reply("250 queued")
            elif verb in ("RSET", "NOOP"):
                self.reply("250 ok")
            elif verb == "QUIT" or not command:
                self.reply("221 bye")
                return
            else:
                self.reply("502 unknown command")


@pytest.fixture
def smtp_server():
    """Start SMTP servers: smtp_server(auth="PLAIN LOGIN", credentials=(u, p), tls=SSLContext)."""
    servers = []

    def start(auth=None, credentials=None, tls=None):
        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), SMTPHandler)
        server.daemon_threads = True
        server.handle_error = lambda request, address: None  # a refused handshake is on purpose
        server.auth, server.credentials, server.tls, server.mails = auth, credentials, tls, []
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def email_cfg(tmp_path, server, **extra):
    values = {
        "enabled": "true",
        "smtp_host": "127.0.0.1",
        "smtp_port": server.server_address[1],
        "sender_email": "rra@daq.example",
        "recipient_email": "'ops@example.org, shifter@example.org'",
    }
    return make_cfg(tmp_path, email=dict(values, **extra))


def test_one_email_lists_every_failed_run_and_stage(tmp_path, smtp_server, logs):
    server = smtp_server()
    cfg = email_cfg(tmp_path, server)
    assert notify.notify_failures(cfg, FAILURES, summary="ucondb:   2 done, 3 failed") == []
    assert len(server.mails) == 1
    mail = server.mails[0]
    assert mail["from"] == "rra@daq.example"
    assert mail["to"] == ["ops@example.org", "shifter@example.org"]
    assert mail["auth"] is None and not mail["tls"]
    message = mail["message"]
    assert message["Subject"] == "rra on %s: 4 runs failed" % socket.gethostname()
    assert message["To"] == "ops@example.org, shifter@example.org"
    body = message.get_content().replace("\r\n", "\n")
    assert "  fhiclize: 1300\n  artdaqdb: 1207\n  ucondb: 1207, 1210-1211\n" in body
    assert "ucondb 1207: HTTP 500 from server" in body
    assert "ucondb 1210-1211: ConnectionError: refused" in body
    assert "artdaqdb 1207: bulkloader exited 3" in body
    assert "fhiclize 1300: metadata.txt: bad line <7>" in body
    assert "Traceback" not in body
    assert body.rstrip().endswith("ucondb:   2 done, 3 failed")
    assert any("email notice sent" in line for line in logs)


def test_secrets_quoted_in_errors_are_not_sent(tmp_path, smtp_server):
    server = smtp_server()
    cfg = email_cfg(tmp_path, server)
    cfg.values["ucon_db.writer_password"] = PASSWORD
    error = "PUT https://writer:%s@ucon/x: 401 (%s)" % (PASSWORD, PASSWORD)
    notify.notify_failures(cfg, [Failure(1, "ucondb", error)])
    body = server.mails[0]["message"].get_content()
    assert "PUT https://ucon/x: 401 (********)" in body
    assert_no_secret(body)


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_email_logs_in_when_configured(tmp_path, smtp_server, logs, capsys, mechanism):
    server = smtp_server(auth=mechanism, credentials=("archiver", PASSWORD))
    cfg = email_cfg(tmp_path, server, smtp_user="archiver", smtp_password=PASSWORD)
    assert notify.notify_failures(cfg, FAILURES) == []
    assert [m["auth"] for m in server.mails] == [(mechanism, "archiver")]
    assert_no_secret("\n".join(logs), *capsys.readouterr())


def test_email_wrong_password_is_a_problem_without_the_secret(tmp_path, smtp_server, logs, capsys):
    server = smtp_server(auth="PLAIN LOGIN", credentials=("archiver", "the-right-one"))
    cfg = email_cfg(tmp_path, server, smtp_user="archiver", smtp_password=PASSWORD)
    problems = notify.notify_failures(cfg, FAILURES)
    assert len(problems) == 1 and "refused the login of archiver: 535" in problems[0]
    assert server.mails == []
    assert any(problems[0] in line for line in logs)
    assert_no_secret("\n".join(logs), *problems, *capsys.readouterr())


def test_email_unreachable_server_is_a_problem(tmp_path, logs):
    port = free_port()
    cfg = make_cfg(
        tmp_path,
        email={
            "enabled": "true",
            "smtp_host": "127.0.0.1",
            "smtp_port": port,
            "sender_email": "a@b",
            "recipient_email": "c@d",
        },
    )
    problems = notify.notify_failures(cfg, FAILURES)
    assert len(problems) == 1 and problems[0].startswith("email: cannot send via 127.0.0.1:%d" % port)
    assert "refused" in problems[0].lower()


def test_email_missing_settings_are_a_problem(tmp_path):
    cfg = make_cfg(tmp_path, email={"enabled": "true", "smtp_host": "127.0.0.1"})
    assert notify.notify_failures(cfg, FAILURES) == ["email: reporting.email.sender_email, recipient_email is not set"]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1, made by openssl."""
    if not OPENSSL.exists():
        pytest.skip("no /usr/bin/openssl")
    d = tmp_path_factory.mktemp("tls")
    made = subprocess.run(
        [
            str(OPENSSL),
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(d / "key.pem"),
            "-out",
            str(d / "cert.pem"),
        ],
        capture_output=True,
    )
    if made.returncode:
        pytest.skip("openssl cannot make a certificate: %s" % made.stderr.decode()[-200:])
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(d / "cert.pem", d / "key.pem")
    return d / "cert.pem", context


def test_email_starttls_then_login(tmp_path, smtp_server, certificate, monkeypatch, logs):
    cert, context = certificate
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # trust our CA the way an operator's system would
    server = smtp_server(auth="PLAIN", credentials=("archiver", PASSWORD), tls=context)
    cfg = email_cfg(tmp_path, server, smtp_use_tls="true", smtp_user="archiver", smtp_password=PASSWORD)
    assert notify.notify_failures(cfg, FAILURES) == []
    assert [(m["tls"], m["auth"]) for m in server.mails] == [(True, ("PLAIN", "archiver"))]
    assert_no_secret("\n".join(logs))


def test_email_starttls_with_an_untrusted_certificate_fails(tmp_path, smtp_server, certificate, logs):
    server = smtp_server(auth="PLAIN", credentials=("archiver", PASSWORD), tls=certificate[1])
    cfg = email_cfg(tmp_path, server, smtp_use_tls="true", smtp_user="archiver", smtp_password=PASSWORD)
    problems = notify.notify_failures(cfg, FAILURES)
    assert len(problems) == 1 and "CERTIFICATE_VERIFY_FAILED" in problems[0]
    assert server.mails == []
    assert_no_secret("\n".join(logs), *problems)


# ---- an HTTP stand-in for Slack's chat.postMessage ----


class SlackHandler(BaseHTTPRequestHandler):
    def do_POST(self):
        srv = self.server
        body = self.rfile.read(int(self.headers["Content-Length"]))
        srv.requests.append(
            {
                "path": self.path,
                "auth": self.headers["Authorization"],
                "type": self.headers["Content-Type"],
                "json": json.loads(body),
            }
        )
        time.sleep(srv.delay)
        srv.release.wait(30)  # a test holds the answer back until it says so
        status, answer = srv.answer
        data = json.dumps(answer).encode() if not isinstance(answer, bytes) else answer
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def slack():
    server = ThreadingHTTPServer(("127.0.0.1", 0), SlackHandler)
    server.requests, server.answer, server.delay = [], (200, {"ok": True, "ts": "1.2"}), 0
    server.release = threading.Event()
    server.release.set()
    server.handle_error = lambda request, address: None  # a client that gave up: on purpose
    server.url = "http://127.0.0.1:%d/api/chat.postMessage" % server.server_address[1]
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()


def slack_cfg(tmp_path, url, **extra):
    values = {"enabled": "true", "bot_token": TOKEN, "channel": "C0DAQ", "api_url": url}
    return make_cfg(tmp_path, slack=dict(values, **extra))


def test_slack_ok(tmp_path, slack, logs, capsys):
    assert notify.notify_failures(slack_cfg(tmp_path, slack.url), FAILURES) == []
    [request] = slack.requests
    assert request["path"] == "/api/chat.postMessage"
    assert request["auth"] == "Bearer " + TOKEN
    assert request["type"].startswith("application/json")
    assert set(request["json"]) == {"channel", "text"} and request["json"]["channel"] == "C0DAQ"
    text = request["json"]["text"]
    assert text.startswith("rra on %s: 4 runs failed" % socket.gethostname())
    assert "ucondb: 1207, 1210-1211" in text and "artdaqdb: 1207" in text and "fhiclize: 1300" in text
    assert "bad line &lt;7&gt;" in text  # Slack would take <7> for a link
    assert_no_secret("\n".join(logs), *capsys.readouterr())


def test_slack_mentions_come_first(tmp_path, slack):
    cfg = slack_cfg(tmp_path, slack.url, mention_users="'U123, U456'")
    assert notify.notify_failures(cfg, FAILURES) == []
    assert slack.requests[0]["json"]["text"].startswith("<@U123> <@U456> rra on ")


def test_slack_ok_false_is_a_problem(tmp_path, slack, logs):
    slack.answer = (200, {"ok": False, "error": "channel_not_found"})
    problems = notify.notify_failures(slack_cfg(tmp_path, slack.url), FAILURES)
    assert problems == ["slack: %s refused the message to C0DAQ: channel_not_found" % slack.url]
    assert any("channel_not_found" in line for line in logs)
    assert_no_secret("\n".join(logs), *problems)


def test_slack_http_500_is_a_problem(tmp_path, slack, logs):
    slack.answer = (500, b"oops")
    problems = notify.notify_failures(slack_cfg(tmp_path, slack.url), FAILURES)
    assert problems == ["slack: %s answered HTTP 500 Internal Server Error" % slack.url]
    assert_no_secret("\n".join(logs), *problems)


def test_slack_connection_refused_is_a_problem(tmp_path, logs):
    url = "http://127.0.0.1:%d/api/chat.postMessage" % free_port()
    problems = notify.notify_failures(slack_cfg(tmp_path, url), FAILURES)
    assert len(problems) == 1 and problems[0].startswith("slack: cannot post to " + url)
    assert "refused" in problems[0].lower()
    assert_no_secret("\n".join(logs), *problems)


def test_slack_timeout_is_a_problem(tmp_path, slack, monkeypatch):
    """Slack holds the answer back until the test releases it: the notice gives up first."""
    monkeypatch.setattr(notify, "TIMEOUT", 0.2)
    slack.release.clear()
    problems = notify.notify_failures(slack_cfg(tmp_path, slack.url), FAILURES)  # (or a 30 s wait)
    assert len(slack.requests) == 1
    assert len(problems) == 1 and "timed out" in problems[0].lower()


def test_both_channels_and_secret_echo_is_scrubbed(tmp_path, slack, smtp_server, logs, capsys):
    slack.answer = (200, {"ok": False, "error": "invalid_auth for " + TOKEN})  # a server that echoes
    server = smtp_server()
    cfg = make_cfg(
        tmp_path,
        email={
            "enabled": "true",
            "smtp_host": "127.0.0.1",
            "smtp_port": server.server_address[1],
            "sender_email": "a@b",
            "recipient_email": "c@d",
        },
        slack={"enabled": "true", "bot_token": TOKEN, "channel": "C0DAQ", "api_url": slack.url},
    )
    problems = notify.notify_failures(cfg, FAILURES)
    assert len(server.mails) == 1 and len(slack.requests) == 1
    assert problems == ["slack: %s refused the message to C0DAQ: invalid_auth for ********" % slack.url]
    assert_no_secret("\n".join(logs), *problems, *capsys.readouterr())


def test_disabled_channels_and_no_failures_send_nothing(tmp_path, slack, smtp_server):
    server = smtp_server()
    cfg = make_cfg(
        tmp_path,
        email={
            "enabled": "false",
            "smtp_host": "127.0.0.1",
            "smtp_port": server.server_address[1],
            "sender_email": "a@b",
            "recipient_email": "c@d",
        },
        slack={"enabled": "false", "bot_token": TOKEN, "channel": "C0DAQ", "api_url": slack.url},
    )
    assert notify.notify_failures(cfg, FAILURES) == []
    cfg.values["reporting.email.enabled"] = cfg.values["reporting.slack.enabled"] = True
    assert notify.notify_failures(cfg, []) == []
    assert server.mails == [] and slack.requests == []


def test_hundreds_of_failures_stay_short():
    failures = [Failure(run, "ucondb", "run %d: HTTP 503 %s" % (run, "x" * 500)) for run in range(1000, 1600, 2)]
    failures += [Failure(run, "blob", "disk full") for run in range(2000, 2400)]
    subject, text = notify.compose(failures, host="daq01")
    assert subject == "rra on daq01: 700 runs failed"
    assert "  blob: 2000-2399\n" in text
    assert "Errors:\n  blob 2000-2399: disk full\n  ucondb 1000: run 1000: HTTP 503 xxx" in text
    assert "... (300 runs)" in text and "... and %d more" % (301 - notify.MAX_ERRORS) in text
    assert len(text) < 12000
    assert max(len(line) for line in text.splitlines()) < 400
