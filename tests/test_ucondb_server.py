"""The test server speaks the real UconDB wire protocol: statuses, bodies, headers, digest auth."""

import json
import re

import pytest
import requests
from requests.auth import HTTPDigestAuth

from rra.ucondb.meta import adler32
from testserver import TestServer

AUTH = HTTPDigestAuth("writer", "pw")


@pytest.fixture
def srv(tmp_path):
    with TestServer(
        tmp_path / "s.sqlite", folders=["test01", "other"], objects=["configuration"], password="pw"
    ) as server:
        yield server


def post(srv, path, data, auth=AUTH, **params):
    return requests.post(f"{srv.url}/{path}", params=params, data=data, auth=auth, timeout=5)


def get(srv, path, **params):
    return requests.get(f"{srv.url}/{path}", params=params, timeout=5)


def test_reads(srv):
    r = get(srv, "version")
    assert (r.status_code, r.text, r.headers["Content-Type"], r.headers["Connection"]) == (
        200,
        "3.9.7",
        "text/html; charset=UTF-8",
        "close",
    )
    r = get(srv, "folders")
    assert r.json() == ["other", "test01"] and r.headers["Content-Type"] == "text/json; charset=UTF-8"
    assert r.headers["Content-Length"] == str(len(r.content))  # as the real server sends it
    assert get(srv, "objects", folder="test01").json() == []  # no versions yet
    r = get(srv, "versions", folder="test01", object="configuration")
    assert (r.status_code, r.text) == (404, "Object configuration not found")
    r = get(srv, "versions", folder="nope", object="configuration")
    assert (r.status_code, r.text) == (404, "Folder nope not found")


def test_write_then_read(srv):
    r = post(srv, "data/test01/configuration", b"payload", key="12345", tag=["12345", "x"], full_meta="yes")
    assert r.status_code == 200 and r.headers["Content-Type"] == "text/json; charset=UTF-8"
    meta = r.json()
    assert set(meta) == {
        "object",
        "folder",
        "tv",
        "tr",
        "tags",
        "adler32",
        "uadler32",
        "data_size",
        "data_key",
        "id",
        "key",
    }
    assert (meta["folder"], meta["key"], meta["tags"], meta["data_size"]) == (
        "public.test01",
        "12345",
        ["12345", "x"],
        7,
    )
    assert meta["adler32"] == meta["uadler32"] == adler32(b"payload") and isinstance(meta["data_key"], str)
    for path in ("data/test01/configuration/key=12345", "get/test01/configuration/key=12345"):
        r = get(srv, path)
        assert r.content == b"payload" and r.headers["Content-Type"] == "application/octet-stream"
        h = r.headers
        assert (h["X-UConDB-version-id"], h["X-UConDB-version-key"], h["X-UConDB-data-size"]) == (
            str(meta["id"]),
            "12345",
            "7",
        )
        assert h["X-UConDB-adler32"] == str(adler32(b"payload")) and h["X-UConDB-data-key"] == meta["data_key"]
        assert json.loads(h["X-UConDB-metadata"])["id"] == meta["id"] and float(h["X-UConDB-tr"]) == meta["tr"]
    assert get(srv, "data/test01/configuration", key="12345", meta_only="yes").json() == meta
    assert get(srv, "get_blob", folder="test01", data_key=meta["data_key"]).content == b"payload"
    assert get(srv, "versions", folder="test01", object="configuration").json() == [meta]
    assert get(srv, "objects", folder="test01").json() == ["configuration"]
    r = get(srv, "data/test01/configuration/key=999")
    assert (r.status_code, r.text) == (404, "Version not found")
    r = post(srv, "data/test01/configuration", b"again", key="1")
    assert r.text.isdigit() and r.headers["Content-Type"] == "text/html; charset=UTF-8"  # no full_meta: the id


def test_duplicate_key_is_500_application_error(srv):
    assert post(srv, "data/test01/configuration", b"a", key="7").status_code == 200
    r = post(srv, "data/test01/configuration", b"b", key="7", override="no")
    assert (r.status_code, r.reason) == (500, "Application Error")
    assert re.search(
        r"<h2>Application error</h2>\s*<h3>Version of object configuration with key 7 already exists</h3>", r.text
    )
    r = post(srv, "data/test01/configuration", b"b", key="7", override="yes", full_meta="yes")
    assert r.status_code == 200 and r.json()["key"] == "7"
    keys = [v["key"] for v in get(srv, "versions", folder="test01", object="configuration").json()]
    assert keys == ["7", None]


def test_identical_blobs_share_data(srv):
    a = post(srv, "data/test01/configuration", b"same", key="1", full_meta="yes").json()
    b = post(srv, "data/test01/configuration", b"same", key="2", full_meta="yes").json()
    assert a["data_key"] == b["data_key"] and a["id"] != b["id"]


def test_digest_challenge_and_refusal(srv):
    r = post(srv, "data/test01/configuration", b"x", auth=None, key="1")
    assert r.status_code == 401
    challenge = r.headers["WWW-Authenticate"]
    assert challenge.startswith('Digest realm="public.test01", nonce="') and 'qop="auth"' in challenge
    assert "algorithm=MD5" in challenge
    r = post(srv, "data/test01/configuration", b"x", auth=HTTPDigestAuth("writer", "bad"), key="1")
    assert (r.status_code, r.text) == (401, "Authorization required") and "WWW-Authenticate" not in r.headers
    r = post(srv, "data/test01/configuration", b"x", auth=HTTPDigestAuth("intruder", "pw"), key="1")
    assert r.status_code == 401 and "WWW-Authenticate" not in r.headers
    r = requests.post(f"{srv.url}/data/test01/configuration?key=1", data=b"x", auth=("writer", "pw"), timeout=5)
    assert r.status_code == 401  # Basic is not accepted


def test_replayed_authorization_is_challenged(srv):
    r = post(srv, "data/test01/configuration", b"x", key="1")
    assert r.status_code == 200
    replay = r.request.headers["Authorization"]
    r = requests.post(r.request.url, data=b"x", headers={"Authorization": replay}, timeout=5)
    assert r.status_code == 401 and "WWW-Authenticate" in r.headers


def test_order_of_write_checks(tmp_path):
    with TestServer(tmp_path / "s.sqlite", objects=["configuration"], password="pw") as srv:
        r = post(srv, "data/nope/configuration", b"x", auth=None, key="1")
        assert (r.status_code, r.text) == (404, "Folder not found")  # before authentication
        assert post(srv, "data/test01", b"x", auth=None, key="1").status_code == 400  # no object name
    with TestServer(tmp_path / "r.sqlite", readonly=True) as srv:
        assert post(srv, "data/test01/configuration", b"x", auth=None, key="1").status_code == 405


def test_invalid_values(srv):
    r = get(srv, "data/test01/configuration", key="1<script>")
    assert r.status_code == 400 and "\nInvalid value for key\n" in r.text  # webob's 400 page
    assert "\nInvalid value for folder\n" in get(srv, "versions", folder="te|st", object="c").text


def test_counts_and_latency(tmp_path):
    with TestServer(tmp_path / "s.sqlite", latency_ms=30) as srv:
        r = get(srv, "version")
        assert r.elapsed.total_seconds() >= 0.03
        get(srv, "versions", folder="test01", object="configuration")
        assert srv.count() == 2 and srv.count("GET", "/version") == 2 and srv.count("POST") == 0
        assert srv.requests[("GET", "/versions")] == 1


def test_random_faults_are_seeded(tmp_path):
    def run():
        with TestServer(tmp_path / "s.sqlite", p_503=0.5, seed=7) as srv:
            return [get(srv, "version").status_code for _ in range(20)]

    first = run()
    assert first == run() and 503 in first and 200 in first
