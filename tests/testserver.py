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
from pathlib import Path
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from rra.ucondb.errors import KeyExists, UconDBNotFound
from rra.ucondb.store import Store

FAULTS = ("503", "500", "hang", "reset", "hang_after")


class BadRequest(Exception):
    """400 with the server's wording."""


class TestServer:
    """Serves the UconDB wire protocol; counts requests; injects latency, 503s, hangs and resets."""

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        db,
        folders=("test01",),
        objects=None,
        user="writer",
        password="secret",
        namespace="public",
        version="3.9.7",
        prefix="/app",
        host="127.0.0.1",
        port=0,
        certfile=None,
        keyfile=None,
        readonly=False,
        latency_ms=0,
        p_503=0.0,
        p_hang=0.0,
        p_reset=0.0,
        hang_s=5.0,
        seed=None,
        nonce_ttl=300.0,
    ):
        # One store per folder: the real server numbers versions and data rows per folder.
        db = Path(db)
        self.stores = {
            f: Store(db.with_name("%s.%s%s" % (db.stem, f, db.suffix)), namespace=namespace, create=False)
            for f in folders
        }
        for f, store in self.stores.items():
            store.add_folder(f)
            for o in objects or ():
                store.add_object(f, o)
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
        self._thread = threading.Thread(
            target=self.httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"ucondb-testserver-{self.port}",
            daemon=True,
        )
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
            return sum(
                n for (m, p), n in self.requests.items() if (method is None or m == method) and p.startswith(path)
            )

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
        path = split.path[len(app.prefix) :] if split.path.startswith(app.prefix + "/") else split.path
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
            answer = _text(404, "Not found")
        else:
            try:
                answer = _Request(app, method, path, split.query, body, self).answer()
            except BadRequest as e:
                answer = _bad_request(str(e))
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


class _Request:
    """One request, answered as UconDB 3.9.7's handler.py answers it (webpie underneath)."""

    def __init__(self, app, method, path, query, body, handler):
        self.app, self.method, self.body, self.handler = app, method, body, handler
        # webpie hands the handler the path undecoded; query values are decoded.
        op, _, self.relpath = path.strip("/").partition("/")
        self.op = op
        self.query = {}
        for k, v in parse_qsl(query, keep_blank_values=True):
            self.query.setdefault(k, []).append(v)

    def answer(self):
        self._sanitize()
        route = {
            ("GET", "version"): self.version,
            ("GET", "folders"): self.folders,
            ("GET", "objects"): self.objects,
            ("GET", "versions"): self.versions,
            ("GET", "get_blob"): self.get_blob,
            ("GET", "get"): self.get,
            ("GET", "data"): self.get,
            ("POST", "data"): self.put,
            ("PUT", "data"): self.put,
            ("POST", "put"): self.put,
            ("PUT", "put"): self.put,
        }.get((self.method, self.op))
        return route() if route else _text(404, "Not found")

    def _sanitize(self):
        """webpie's @sanitize: the raw path and every query value, else 400 Invalid value for X."""
        if any(c in self.relpath for c in SANITIZE):
            raise BadRequest("Invalid value for %28relpath%29")
        for k, vs in self.query.items():
            if any(c in v for v in vs for c in SANITIZE):
                raise BadRequest("Invalid value for " + k)

    def arg(self, name, default=None):
        return self.query.get(name, [default])[0]

    def store(self, folder):
        """The folder's store, or None; the real server also takes the namespace-qualified name."""
        ns = self.app.namespace + "."
        return self.app.stores.get(folder[len(ns) :] if folder and folder.startswith(ns) else folder)

    def params(self):
        """handler.parseArgs: folder/object/name=value path elements, then the query; no repeats."""
        d = {}
        for w in self.relpath.split("/") if self.relpath else ():
            if any(c in UNSAFE for c in w):
                raise ValueError("Invalid path element")
            k, eq, v = w.partition("=")
            if not eq:
                k, v = ("object" if "folder" in d else "folder"), w
            if k in d:
                raise ValueError("Value for %s specified twice in the URL" % k)
            d[k] = v
        for k, vs in self.query.items():
            if k in d:
                raise ValueError("Value for %s specified twice in the URL" % k)
            d[k] = vs[0] if len(vs) == 1 else vs
        for v in d.values():
            if any("'" in x or ";" in x for x in (v if isinstance(v, list) else [v])):
                raise ValueError("Invalid argument value")
        return d

    def version(self):
        return _text(200, self.app.server_version)

    def folders(self):
        return _json(sorted(self.app.stores), length=True)

    def objects(self):
        store = self.store(self.arg("folder"))
        if store is None:
            raise AttributeError("'NoneType' object has no attribute 'listObjects'")
        return _json(store.objects(store_folder(store)), length=True)

    def versions(self):
        folder, obj = self.arg("folder"), self.arg("object")
        store = self.store(folder)
        if store is None:
            return _text(404, "Folder %s not found" % folder)
        try:
            versions = store.versions(store_folder(store), obj)
        except UconDBNotFound:
            return _text(404, "Object %s not found" % obj)
        return _json([m.to_json() for m in versions])

    def get_blob(self):
        data_key, version_id = self.arg("data_key"), self.arg("version_id")
        if (data_key is None) == (version_id is None):
            return _text(400, "One and only one of data_key, version_id must be specified")
        folder = self.arg("folder") or self.relpath
        store = self.store(folder)
        if store is None:
            return _text(404, "Folder %s not found" % folder)
        try:
            if data_key is None:
                data = store.read(store_folder(store), None, version_id=int(version_id))[0]
            else:
                data = store.blob(data_key)
        except UconDBNotFound:
            return _text(404, "Version not found" if data_key is None else "Data not found")
        return 200, "application/octet-stream", data

    def get(self):
        p = self.params()
        folder, obj = p.get("folder"), p.get("object")
        if folder is None or obj is None:
            return _text(400, "")
        store = self.store(folder)
        if p.get("id") is not None:  # by version id, whatever the object
            vid = int(p["id"])
            if store is None:
                raise AttributeError("'NoneType' object has no attribute 'getVersionByID'")
            try:
                data, meta = store.read(store_folder(store), None, version_id=vid)
            except UconDBNotFound:
                if p.get("meta_only") == "yes":
                    return _json({}, length=True)
                raise AttributeError("'NoneType' object has no attribute 'Data'") from None
            if p.get("meta_only") == "yes":
                return _json(meta.to_json(), length=True)
            return _text(200, data)
        if store is None:
            raise AttributeError("'NoneType' object has no attribute 'getObject'")
        if not store.has_object(store_folder(store), obj):
            raise AttributeError("'NoneType' object has no attribute 'getVersion'")
        try:
            if p.get("key") is not None:
                data, meta = store.read(store_folder(store), obj, key=p["key"])
            else:  # no key: the newest version
                meta = store.versions(store_folder(store), obj)[0]
                data = store.blob(meta.data_key)
        except UconDBNotFound:
            return _text(404, "Version not found")
        if p.get("meta_only") == "yes":
            return _json(meta.to_json(), length=True)
        headers = {
            "X-UConDB-product-version": self.app.server_version,
            "X-UConDB-version-id": meta.version_id,
            "X-UConDB-data-key": meta.data_key,
            "X-UConDB-version-key": meta.key or "null",
            "X-UConDB-data-size": meta.size,
            "X-UConDB-adler32": meta.adler32,
            "X-UConDB-tv": meta.tv,
            "X-UConDB-tr": meta.tr,
            "X-UConDB-metadata": json.dumps(meta.to_json()),
            "X-UConDB-metadata-format": "text/json",
        }
        return 200, "application/octet-stream", data, headers, False

    def put(self):
        app, p = self.app, self.params()
        if app.readonly:
            return _text(405, "Read-only instance")
        store = self.store(p.get("folder"))
        if store is None:
            return _text(404, "Folder not found")
        obj = p.get("object")
        if obj is None:
            return _text(400, "")
        folder = store_folder(store)
        realm = f"{app.namespace}.{folder}"
        verdict = app._check_auth(self.handler.headers.get("Authorization"), self.method, self.handler.path, realm)
        if verdict != "ok":
            challenge = {"WWW-Authenticate": app._challenge(realm)} if verdict == "challenge" else {}
            return 401, TEXT, b"Authorization required", challenge
        if not store.has_object(folder, obj):
            if not app.objects_on_demand:
                raise AttributeError("'NoneType' object has no attribute 'createVersion'")
            store.add_object(folder, obj)
        tags = p.get("tag", [])
        tags = [tags] if isinstance(tags, str) else tags
        tv = float(p["tv"]) if p.get("tv") else 0.0
        try:
            meta = store.put(folder, obj, p.get("key"), self.body, tags, tv, p.get("override", "no") == "yes")
        except KeyExists as e:
            raise ValueError(e.message) from None
        if p.get("full_meta", "no") == "yes":
            return _json(meta.to_json(), length=True)
        return _text(200, str(meta.version_id))


TEXT, JSON = "text/html; charset=UTF-8", "text/json; charset=UTF-8"
SANITIZE = "<'>\\|"  # webpie's @sanitize refuses these in the path and in query values
UNSAFE = SANITIZE + ';"'  # handler.parseArgs refuses these in /data path elements


def store_folder(store):
    """The folder a per-folder store holds."""
    return store.folders()[0]


def _text(status, body):
    """A plain answer: the real server sends text as text/html."""
    return status, TEXT, body if isinstance(body, bytes) else body.encode()


def _json(value, length=False):
    """text/json, streamed without Content-Length like the real server (unless asked)."""
    return 200, JSON, json.dumps(value).encode(), {}, length


def _bad_request(message):
    """webob's 400 page, as webpie's @sanitize raises it."""
    body = (
        "<html>\n <head>\n  <title>400 Bad Request</title>\n </head>\n <body>\n  <h1>400 Bad Request</h1>\n"
        "  The server could not comply with the request since it is either malformed or otherwise "
        "incorrect.\n%s\n\n\n </body>\n</html>" % message
    )
    return 400, TEXT, body.encode()


def _app_error(message, tb=""):
    body = (
        "<html><body><h2>Application error</h2>\n            <h3>%s</h3>\n            <pre>\n%s</pre>\n"
        "            </body>\n            </html>" % (message, tb)
    )
    return 500, TEXT, body.encode()


def main(argv=None):
    """python tests/testserver.py --port P --db FILE --folder F ... (for benches and manual tests)."""
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
    server = TestServer(
        a.db,
        folders=a.folder or ["test01"],
        objects=a.object,
        user=a.user,
        password=a.password,
        host=a.host,
        port=a.port,
        certfile=a.cert,
        keyfile=a.key,
        readonly=a.readonly,
        latency_ms=a.latency_ms,
        p_503=a.p_503,
        p_hang=a.p_hang,
        p_reset=a.p_reset,
        hang_s=a.hang_s,
        seed=a.seed,
    )
    print(server.url, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.httpd.server_close()


if __name__ == "__main__":
    main()
