"""A real UconDB HTTP server on 127.0.0.1 over the embedded Store, with injectable latency and faults."""

import argparse
import hashlib
import hmac
import json
import os
import random
import re
import secrets
import socket
import ssl
import struct
import threading
import time
import traceback
from collections import Counter, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit

from .errors import KeyExists, UconDBNotFound
from .store import Store

BAD_CHARS = re.compile(r"[<'>\\|]")
FAULTS = ("503", "500", "hang", "reset", "hang_after")


class BadRequest(Exception):
    """400 with the server's wording."""


class TestServer:
    """Serves the UconDB wire protocol; counts requests; injects latency, 503s, hangs and resets."""

    __test__ = False  # not a pytest test class

    def __init__(self, db, folders=("test01",), objects=None, user="writer", password="secret",
                 namespace="public", version="3.9.7", prefix="/app", host="127.0.0.1", port=0,
                 certfile=None, keyfile=None, readonly=False, latency_ms=0, p_503=0.0, p_hang=0.0,
                 p_reset=0.0, hang_s=5.0, seed=None, nonce_ttl=300.0):
        self.store = Store(db, namespace=namespace, create=False)
        for f in folders:
            self.store.add_folder(f)
            for o in objects or ():
                self.store.add_object(f, o)
        self.objects_on_demand = objects is None
        self.user, self._password, self.namespace, self.server_version = user, password, namespace, version
        self.prefix, self.readonly = prefix.rstrip("/"), readonly
        self.latency_ms, self.p_503, self.p_hang, self.p_reset, self.hang_s = latency_ms, p_503, p_hang, p_reset, hang_s
        self.rng, self.nonce_ttl = random.Random(seed), nonce_ttl
        self.requests = Counter()  # (method, path without prefix and query) → count
        self._lock = threading.Lock()
        self._script = deque()
        self._nonces = {}  # nonce → [issued, last nc]
        self.stopping = threading.Event()
        self.tls = None
        if certfile:
            self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls.load_cert_chain(certfile, keyfile)
        self.httpd = _HTTPServer((host, port), self)
        self.host, self.port = host, self.httpd.server_address[1]
        self._thread = None

    def __repr__(self):
        return f"TestServer({self.url!r}, user={self.user!r})"

    @property
    def url(self):
        """The server_url a client is configured with (ends in the /app prefix)."""
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}{self.prefix}"

    def start(self):
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"ucondb-testserver-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        """Stop serving; wakes requests that are hanging on purpose."""
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def serve_forever(self):
        """Serve in the calling thread (the command line)."""
        self.httpd.serve_forever()

    # -- what tests look at and steer --

    def count(self, method=None, path=""):
        """Requests seen so far, for a method and/or a path prefix such as '/data' or '/versions'."""
        with self._lock:
            return sum(n for (m, p), n in self.requests.items()
                       if (method is None or m == method) and p.startswith(path))

    def fail_next(self, *faults, method=None, path=""):
        """Script faults for the next matching requests, in order: '503', '500', 'hang', 'reset', 'hang_after'."""
        for f in faults:
            if f not in FAULTS:
                raise ValueError(f"unknown fault {f!r}; one of {FAULTS}")
        with self._lock:
            self._script.extend((f, method, path) for f in faults)

    def _fault(self, method, path):
        with self._lock:
            for item in self._script:
                f, m, p = item
                if (m is None or m == method) and path.startswith(p):
                    self._script.remove(item)
                    return f
            r = self.rng.random()
        for fault, p in (("reset", self.p_reset), ("hang", self.p_hang), ("503", self.p_503)):
            if r < p:
                return fault
            r -= p
        return None

    # -- digest authentication (RFC 2617, MD5, qop=auth) --

    def _challenge(self, realm):
        nonce = secrets.token_hex(16)
        with self._lock:
            now = time.time()
            for n in [n for n, (t, _) in self._nonces.items() if now - t > self.nonce_ttl]:
                del self._nonces[n]
            self._nonces[nonce] = [now, 0]
        return f'Digest realm="{realm}", nonce="{nonce}", algorithm=MD5, qop="auth"'

    def _check_auth(self, header, method, uri, realm):
        """'ok', 'challenge' (no or stale credentials: ask again) or 'denied' (wrong user or password)."""
        if not header or not header.startswith("Digest "):
            return "challenge"
        f = {k: a if a else b for k, a, b in re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]*))', header[7:])}
        nonce, nc = f.get("nonce"), int(f.get("nc") or "0", 16)
        with self._lock:
            state = self._nonces.get(nonce)
            if state is None or time.time() - state[0] > self.nonce_ttl or nc <= state[1]:
                return "challenge"
            state[1] = nc
        if f.get("username") != self.user or f.get("realm") != realm or f.get("uri") != uri or f.get("qop") != "auth":
            return "denied"
        md5 = lambda s: hashlib.md5(s.encode()).hexdigest()  # noqa: E731
        ha1, ha2 = md5(f"{self.user}:{realm}:{self._password}"), md5(f"{method}:{uri}")
        expected = md5(f"{ha1}:{nonce}:{f.get('nc')}:{f.get('cnonce')}:auth:{ha2}")
        return "ok" if hmac.compare_digest(expected, f.get("response", "")) else "denied"


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, app):
        self.app = app
        super().__init__(address, _Handler)

    def finish_request(self, request, client_address):
        """TLS handshake in the request's thread, so a bad client cannot block the accept loop."""
        if self.app.tls is None:
            return super().finish_request(request, client_address)
        request.settimeout(10)
        try:
            request = self.app.tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            super().finish_request(request, client_address)
        finally:
            request.close()

    def handle_error(self, request, client_address):
        pass  # resets and hangs are on purpose; tests check behaviour, not server logs


class _Handler(BaseHTTPRequestHandler):
    server_version = "webpie"
    sys_version = ""
    protocol_version = "HTTP/1.0"
    timeout = 30

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        self._serve("GET")

    def do_POST(self):
        self._serve("POST")

    def do_PUT(self):
        self._serve("PUT")

    def _serve(self, method):
        app = self.server.app
        split = urlsplit(self.path)
        path = split.path[len(app.prefix):] if split.path.startswith(app.prefix + "/") else split.path
        with app._lock:
            app.requests[(method, path)] += 1
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) if method != "GET" else b""
        if app.latency_ms:
            time.sleep(app.latency_ms / 1000)
        fault = app._fault(method, path)
        if fault == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            return
        if fault == "hang":
            app.stopping.wait(app.hang_s)
            return
        if fault == "503":
            return self._send(503, "text/plain", b"Service Unavailable")
        if fault == "500":
            return self._send(*_app_error("injected failure"))
        if not split.path.startswith(app.prefix + "/"):
            answer = (404, "text/plain", b"Not found")
        else:
            try:
                answer = self._route(app, method, path, split.query, body)
            except BadRequest as e:
                answer = (400, "text/plain", str(e).encode())
            except Exception as e:  # what the real server does with anything uncaught
                answer = _app_error(str(e), traceback.format_exc())
        if fault == "hang_after":  # done (and stored) but the answer never arrives
            app.stopping.wait(app.hang_s)
            return
        self._send(*answer)

    def _send(self, status, ctype, body, headers=None, length=True):
        self.send_response(status, "Application Error" if status == 500 else None)
        self.send_header("Content-Type", ctype)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def _route(self, app, method, path, query, body):
        parts = [unquote(p) for p in path.strip("/").split("/")]
        args = {}
        for k, v in parse_qsl(query, keep_blank_values=True):
            args.setdefault(k, []).append(v)
        head = [p for p in parts if "=" not in p]
        for p in parts:
            if "=" in p:
                k, v = p.split("=", 1)
                args.setdefault(k, []).append(v)
        for k, vs in args.items():
            if any(BAD_CHARS.search(v) for v in vs):
                raise BadRequest(f"Invalid value for {k}")
        if any(BAD_CHARS.search(p) for p in head):
            raise BadRequest("Invalid value for path")
        arg = lambda k, d=None: args.get(k, [d])[0]  # noqa: E731
        store, op = app.store, head[0] if head else ""
        try:
            if method == "GET" and op == "version" and len(head) == 1:
                return 200, "text/html", app.server_version.encode()
            if method == "GET" and op == "folders":
                return _json(store.folders())
            if method == "GET" and op == "objects":
                return _json(store.objects(arg("folder")))
            if method == "GET" and op == "versions":
                return _json([m.to_json() for m in store.versions(arg("folder"), arg("object"))])
            if method == "GET" and op == "get_blob":
                data_key = arg("data_key")
                if not (data_key or "").isdigit():
                    raise BadRequest("Invalid value for data_key")
                return 200, "application/octet-stream", store.blob(data_key)
            if method == "GET" and op in ("data", "get") and len(head) == 3:
                return self._get(store, head[1], head[2], arg)
            if method in ("POST", "PUT") and op == "data" and len(head) == 3:
                return self._put(app, method, head[1], head[2], args, arg, body)
        except UconDBNotFound as e:
            return 404, "text/plain", e.message.encode()
        except KeyExists as e:
            return _app_error(e.message, "Traceback (most recent call last):\n  ...\nValueError: " + e.message)
        return 404, "text/plain", b"Not found"

    def _get(self, store, folder, obj, arg):
        vid = arg("id")
        if vid is not None and not vid.isdigit():
            raise BadRequest("Invalid value for id")
        if arg("key") is None and vid is None:
            meta = store.versions(folder, obj)[0]  # no key: the newest version
            data = store.blob(meta.data_key)
        else:
            data, meta = store.read(folder, obj, key=arg("key"), version_id=vid)
        if arg("meta_only") == "yes":
            return _json(meta.to_json(), length=True)
        headers = {"X-UConDB-version-id": meta.version_id, "X-UConDB-data-key": meta.data_key,
                   "X-UConDB-version-key": meta.key or "", "X-UConDB-data-size": meta.size,
                   "X-UConDB-adler32": meta.adler32, "X-UConDB-tv": meta.tv, "X-UConDB-tr": meta.tr,
                   "X-UConDB-metadata": json.dumps(meta.to_json())}
        return 200, "application/octet-stream", data, headers

    def _put(self, app, method, folder, obj, args, arg, body):
        if app.readonly:
            return 405, "text/plain", b"Method not allowed: read-only instance"
        if not app.store.has_folder(folder):
            return 404, "text/plain", b"Folder not found"
        if not app.store.has_object(folder, obj):
            if not app.objects_on_demand:
                return 400, "text/plain", f"Object {obj} not found".encode()
            app.store.add_object(folder, obj)
        realm = f"{app.namespace}.{folder}"
        verdict = app._check_auth(self.headers.get("Authorization"), method, self.path, realm)
        if verdict != "ok":
            challenge = {"WWW-Authenticate": app._challenge(realm)} if verdict == "challenge" else {}
            return 401, "text/plain", b"Authorization required", challenge
        override = arg("override", "no")
        if override not in ("yes", "no"):
            raise BadRequest("Invalid value for override")
        try:
            tv = float(arg("tv", 0.0))
        except ValueError:
            raise BadRequest("Invalid value for tv") from None
        meta = app.store.put(folder, obj, arg("key"), body, args.get("tag", []), tv, override == "yes")
        if arg("full_meta") == "yes":
            return _json(meta.to_json(), length=True)
        return 200, "text/plain", str(meta.version_id).encode()


def _json(value, length=False):
    """text/json, streamed without Content-Length like the real server (unless asked)."""
    return 200, "text/json", json.dumps(value).encode(), {}, length


def _app_error(message, tb=""):
    body = f"<html><body><h2>Application error</h2><h3>{message}</h3><pre>{tb}</pre></body></html>"
    return 500, "text/html", body.encode()


def main(argv=None):
    """python -m rra.ucondb.testserver --port P --db FILE --folder F ... (for benches and manual tests)."""
    p = argparse.ArgumentParser(description=main.__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--db", required=True)
    p.add_argument("--folder", action="append", default=[])
    p.add_argument("--object", action="append", default=None, help="fixed object list (default: on demand)")
    p.add_argument("--user", default="writer")
    p.add_argument("--password", default=os.environ.get("RRA_TESTSERVER_PASSWORD", "secret"))
    p.add_argument("--latency-ms", type=float, default=0)
    p.add_argument("--p-503", type=float, default=0)
    p.add_argument("--p-hang", type=float, default=0)
    p.add_argument("--p-reset", type=float, default=0)
    p.add_argument("--hang-s", type=float, default=5.0)
    p.add_argument("--seed", type=int)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--readonly", action="store_true")
    a = p.parse_args(argv)
    server = TestServer(a.db, folders=a.folder or ["test01"], objects=a.object, user=a.user, password=a.password,
                        host=a.host, port=a.port, certfile=a.cert, keyfile=a.key, readonly=a.readonly,
                        latency_ms=a.latency_ms, p_503=a.p_503, p_hang=a.p_hang, p_reset=a.p_reset,
                        hang_s=a.hang_s, seed=a.seed)
    print(server.url, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.httpd.server_close()


if __name__ == "__main__":
    main()
