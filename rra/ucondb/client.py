"""UconDB over HTTP: a small honest API; digest auth, TLS, retries and the server's quirks stay inside."""

import hashlib
import json
import logging
import os
import random
import re
import time
from dataclasses import replace
from urllib.parse import quote, unquote, urlsplit

import requests
import urllib3
from requests.auth import HTTPDigestAuth

from ..urls import split_credentials
from .errors import (
    KeyExists,
    UconDBAuthError,
    UconDBConnectionError,
    UconDBError,
    UconDBIntegrityError,
    UconDBNotFound,
    UconDBTimeout,
    UconDBTLSError,
    redact,
)
from .meta import Meta, adler32, run_keys

log = logging.getLogger("rra.ucondb")

EXISTS = re.compile(r"Version of object (\S+) with key (\S+) already exists")
# UconDB 3.9.7 answers a read of a brand-new object (no versions yet) or of an unknown
# folder with a 500 from a None object ('getVersion', 'getObject', 'listObjects'): a verdict
# on the request, not a hiccup, so it is never retried; what it means /versions then says.
MISSING = re.compile(r"'NoneType' object has no attribute '(getVersion|getObject|listObjects)'")
RETRY_STATUS = {500, 502, 503, 504}


def _transient(err):
    """Worth another try: the network or the server hiccuped, not a verdict on the request."""
    if isinstance(err, (UconDBTLSError, KeyExists, UconDBNotFound, UconDBAuthError)):
        return False
    return isinstance(err, (UconDBConnectionError, UconDBIntegrityError)) or err.status in RETRY_STATUS


def _headline(response):
    """The one line of a server error that says what happened (its HTML <h3>, or the text)."""
    text = response.text or ""
    m = re.search(r"<h3>(.*?)</h3>", text, re.S)
    return (m.group(1) if m else re.sub(r"<[^>]+>", " ", text)).strip()[:300] or response.reason


class UconDB:
    """One folder/object of a UconDB server: versions(), keys(), get(), put()."""

    def __init__(
        self,
        server_url,
        folder,
        object,
        user=None,
        password=None,
        timeout=30.0,
        ca_bundle=None,
        verify_tls=True,
        retries=3,
        retry_delay=1.0,
        no_writer=None,
    ):
        parts = urlsplit(server_url)
        if parts.username and user is None:  # credentials in the URL: use them, never show them
            user, password = unquote(parts.username), unquote(parts.password or "")
        # The URL without its user info (a password reaches the server only as digest auth).
        # Not redact(): a configured secret may also be a part of the URL itself.
        self.url = split_credentials(server_url)[0].rstrip("/")
        self.folder, self.object, self.user = folder, object, user
        self.timeout, self.retries, self.retry_delay = timeout, int(retries), float(retry_delay)
        self.no_writer = no_writer  # why there is no writer (e.g. its password is unset)
        self._auth = HTTPDigestAuth(user, password) if user else None
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "rra-ucondb"
        # What requests reads from the environment on every request (proxies and NO_PROXY,
        # ~/.netrc, REQUESTS_CA_BUNDLE), read once here: about 1 ms a request otherwise.
        self.session.trust_env = False
        self.session.proxies = requests.utils.get_environ_proxies(self.url)
        self.session.auth = requests.utils.get_netrc_auth(self.url)  # (explicit auth wins, as before)
        self.verify = str(ca_bundle) if ca_bundle and verify_tls else bool(verify_tls)
        if self.verify is True:
            self.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        if not verify_tls:
            log.warning("TLS verification to %s is OFF: the server's identity is not checked", self.url)

    def __repr__(self):
        return f"UconDB({self.url!r}, folder={self.folder!r}, object={self.object!r}, user={self.user!r})"

    def close(self):
        """Release pooled connections."""
        self.session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- public operations (each retried as a whole) --

    def version(self):
        """The server's version string; a cheap liveness check."""
        return self._retrying(lambda n: self._call("GET", "version").text.strip(), "version")

    def versions(self):
        """All versions (Meta), newest first; a brand-new object (404 Object not found) has none."""

        def once(n):
            try:
                r = self._call("GET", "versions", params={"folder": self.folder, "object": self.object})
            except UconDBNotFound as e:
                if e.message.startswith("404 Object "):
                    return []
                if e.message.startswith("404 Folder "):
                    raise self._no_folder(e.url) from None
                raise
            return [Meta.from_json(d) for d in json.loads(r.content)]

        return self._retrying(once, "list versions")

    def keys(self):
        """Sorted run keys; versions whose key was overridden (null) are skipped."""
        return run_keys(self.versions())

    def meta(self, key):
        """Meta of the version holding key, or None if no version has it."""
        return self._retrying(lambda n: self._meta(key), f"metadata of key {key}")

    def get(self, key):
        """(bytes, Meta) of the version holding key, checked against the announced size and adler32."""

        def once(n):
            try:
                return self._download(f"key={quote(str(key), safe='')}")
            except UconDBNotFound as e:
                if e.status == 500:  # a brand-new object or an unknown folder: /versions says which
                    self._confirm_missing(key, e)
                raise

        return self._retrying(once, f"get key {key}")

    def get_version(self, version_id):
        """(bytes, Meta) of any version by id, including ones whose key was overridden.

        The server sends a version read by id without its X-UConDB-* headers, so the
        metadata comes first (meta_only; `{}` for an unknown id), then the bytes.
        """
        vid = int(version_id)

        def once(n):
            r = self._call("GET", self._path("data", f"id={vid}"), params={"meta_only": "yes"})
            found = json.loads(r.content)
            if not found or found.get("object") != self.object:
                raise UconDBNotFound(
                    f"404 Version {vid} not found (folder {self.folder}, object {self.object})", r.url, 404
                )
            meta = Meta.from_json(found)
            r = self._call("GET", "get_blob", params={"folder": self.folder, "version_id": str(vid)})
            data = r.content
            if not meta.matches(data):
                raise UconDBIntegrityError(
                    f"downloaded {len(data)} bytes do not match the server's size "
                    f"{meta.size} and adler32 {meta.adler32}",
                    r.url,
                )
            return data, replace(meta, md5=hashlib.md5(data).hexdigest())

        return self._retrying(once, f"get version {vid}")

    def put(self, key, data, tags=None, override=False, tv=None):
        """Store data under key and return its Meta; retries never create a second version."""
        if self._auth is None:
            raise UconDBAuthError(
                f"cannot write to folder {self.folder}: "
                f"{self.no_writer or 'no writer user configured (ucon_db.writer_user)'}",
                self.url,
            )
        data = bytes(data)
        tags = (tags,) if isinstance(tags, str) else tuple(tags or ())
        params = [("key", str(key))] + [("tag", str(t)) for t in tags]
        params += [("override", "yes" if override else "no"), ("full_meta", "yes")]
        if tv is not None:
            params.append(("tv", repr(float(tv))))

        def once(n):
            if n and (done := self._already_stored(key, data, override)):
                return done
            try:
                r = self._call("POST", self._path("data"), params=params, data=data, auth=self._auth)
            except KeyExists:
                if n and (done := self._already_stored(key, data, False)):
                    return done
                raise
            return self._put_answer(r, key, data, tags)

        return self._retrying(once, f"put key {key}")

    # -- the messy parts --

    def _already_stored(self, key, data, override):
        """After a lost answer, look before re-sending: the earlier attempt may have been stored."""
        meta = self._meta(key)
        if meta is None:
            return None
        if meta.matches(data):
            log.info(
                "key %s of %s/%s already holds these bytes (version %s): not re-sent",
                key,
                self.folder,
                self.object,
                meta.version_id,
            )
            return replace(meta, md5=hashlib.md5(data).hexdigest())
        if not override:
            raise KeyExists(
                f"Version of object {self.object} with key {key} already exists with other content",
                self._full(self._path("data")),
                key=str(key),
            )
        return None

    def _put_answer(self, r, key, data, tags):
        """Meta from a full_meta answer (or from a bare version id, as without full_meta)."""
        md5 = hashlib.md5(data).hexdigest()
        try:
            return replace(Meta.from_json(json.loads(r.content)), md5=md5)
        except (ValueError, TypeError, KeyError):
            return Meta(
                version_id=int(r.text.strip()),
                key=str(key),
                size=len(data),
                adler32=adler32(data),
                tags=tags,
                folder=self.folder,
                object=self.object,
                md5=md5,
            )

    def _meta(self, key):
        try:
            r = self._call("GET", self._path("data", f"key={quote(str(key), safe='')}"), params={"meta_only": "yes"})
        except UconDBNotFound as e:
            if e.message.startswith("404 Version not found"):
                return None
            if e.status == 500:
                self._confirm_missing(key, e)
                return None
            raise
        return Meta.from_json(json.loads(r.content))

    def _confirm_missing(self, key, err):
        """Accept the server's 500 for a key lookup as "no such key" only once /versions agrees.

        /versions answers an unknown folder with 404 (raised here, naming the folder), a
        brand-new object with 404 (no versions: the key is missing); if the object has
        versions holding the key after all, the 500 was a real failure and is raised.
        """
        try:
            r = self._call("GET", "versions", params={"folder": self.folder, "object": self.object})
        except UconDBNotFound as e:
            if e.message.startswith("404 Folder "):
                raise self._no_folder(e.url) from None
            if e.message.startswith("404 Object "):
                return
            raise
        if str(key) in {d.get("key") for d in json.loads(r.content)}:
            raise UconDBError(f"500 {err.message} although key {key} exists", err.url, 500)

    def _no_folder(self, url):
        return UconDBNotFound(
            f"UconDB has no folder {self.folder} (check ucon_db.folder_name; folders are "
            f"created by the server's administrator)",
            url,
            404,
        )

    def _download(self, selector):
        r = self._call("GET", self._path("data", selector))
        data = r.content
        meta = Meta.from_headers(r.headers, md5=hashlib.md5(data).hexdigest())
        if not meta.matches(data):
            raise UconDBIntegrityError(
                f"downloaded {len(data)} bytes do not match the server's size {meta.size} and adler32 {meta.adler32}",
                r.url,
            )
        return data, meta

    def _path(self, *tail):
        return "/".join((tail[0], quote(self.folder, safe=""), quote(self.object, safe="")) + tail[1:])

    def _full(self, path):
        return f"{self.url}/{path}"

    def _call(self, method, path, params=None, data=None, auth=None):
        """One HTTP exchange, with transport failures and error statuses turned into UconDB errors."""
        url = self._full(path)
        try:
            r = self.session.request(
                method,
                url,
                params=params,
                data=data,
                auth=auth,
                timeout=self.timeout,
                verify=self.verify,
                allow_redirects=False,
            )
        except requests.exceptions.SSLError as e:
            raise UconDBTLSError(
                f"TLS failure talking to UconDB ({_reason(e)}); if the server uses a site CA, "
                f"set ca_bundle to its certificate file",
                url,
            ) from None
        except requests.ConnectTimeout:
            err = UconDBTimeout(f"{method} could not connect within {self.timeout}s", url)
            err.unreachable = True
            raise err from None
        except requests.Timeout:
            raise UconDBTimeout(f"{method} got no answer within {self.timeout}s", url) from None
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as e:
            err = UconDBConnectionError(f"{method} failed: cannot reach UconDB ({_reason(e)})", url)
            err.unreachable = isinstance(
                getattr(e.args[0] if e.args else None, "reason", None), urllib3.exceptions.NewConnectionError
            )
            raise err from None
        if r.status_code == 200:
            return r
        raise self._status_error(r, method)

    def _status_error(self, r, method):
        """Map a non-200 answer to the error that says what to fix."""
        status, url, what = r.status_code, r.url, _headline(r)
        r.close()
        if status == 401:
            who = f"user {self.user!r}" if self.user else "an anonymous request"
            return UconDBAuthError(
                f"401 Unauthorized: UconDB rejected {who} for folder {self.folder} "
                f"(check ucon_db.writer_user and writer_password)",
                url,
                status,
            )
        if status == 403:
            return UconDBAuthError(
                f"403 Forbidden: user {self.user!r} may not {method} in folder {self.folder}", url, status
            )
        if status == 404:
            if method in ("POST", "PUT") and what.startswith("Folder"):
                return self._no_folder(url)
            return UconDBNotFound(f"404 {what} (folder {self.folder}, object {self.object})", url, status)
        if status == 500 and MISSING.search(what):
            return UconDBNotFound(
                f"{what} (folder {self.folder}, object {self.object}: the object has no "
                f"versions yet, or the folder does not exist)",
                url,
                status,
            )
        m = EXISTS.search(r.text or "") if status == 500 else None
        if m:
            return KeyExists(
                f"Version of object {m.group(1)} with key {m.group(2)} already exists "
                f"(put with override to replace it)",
                url,
                status,
                key=m.group(2),
            )
        if status == 405:
            return UconDBError(f"405 this UconDB instance is read-only; {method} refused", url, status)
        return UconDBError(f"{status} {what}", url, status)

    def _retrying(self, once, what):
        """Run once(attempt) until it succeeds, retrying transient failures with exponential backoff and jitter."""
        for attempt in range(self.retries + 1):
            try:
                return once(attempt)
            except UconDBError as e:
                if not _transient(e) or attempt >= self.retries:
                    raise
                delay = self.retry_delay * 2**attempt * random.uniform(0.5, 1.0)
                log.warning("UconDB %s failed (%s); retry %d/%d in %.2fs", what, e, attempt + 1, self.retries, delay)
                time.sleep(delay)


def _reason(exc):
    """The underlying cause of a requests error in a few words (urllib3 wraps it twice)."""
    cause = exc.args[0] if exc.args else exc
    cause = getattr(cause, "reason", cause)
    return redact(re.sub(r"<[^>]*>: ", "", str(cause)))[:200]
