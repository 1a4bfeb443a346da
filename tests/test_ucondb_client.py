"""The UconDB client against the real test server: real sockets, injected faults, no mocks."""

import logging
import subprocess

import pytest

from rra.ucondb import (
    EmbeddedUconDB,
    KeyExists,
    UconDB,
    UconDBAuthError,
    UconDBConnectionError,
    UconDBError,
    UconDBNotFound,
    UconDBTimeout,
    UconDBTLSError,
    open_ucondb,
)
from rra.ucondb.meta import adler32
from testserver import TestServer

PASSWORD = "s3cr3t-Pa55"
FAST = dict(timeout=0.5, retries=2, retry_delay=0.01)


@pytest.fixture
def server(tmp_path):
    with TestServer(tmp_path / "server.sqlite", folders=["test01"], password=PASSWORD, hang_s=1.5) as srv:
        yield srv


@pytest.fixture
def db(server):
    with open_ucondb(server.url, "test01", "configuration", user="writer", password=PASSWORD, **FAST) as client:
        yield client


def test_version(db):
    assert db.version() == "3.9.7"


def test_brand_new_object_has_no_keys(tmp_path):
    with TestServer(tmp_path / "s.sqlite", folders=["test01"], objects=["configuration"]) as srv:
        client = UconDB(srv.url, "test01", "configuration", **FAST)
        assert client.keys() == [] and client.versions() == []
        # two calls, no retries: a 404 "Object not found" is an answer, not a failure
        assert srv.count("GET", "/versions") == 2


def test_put_get_round_trip(db, server):
    data = b"Start of Record\nRun Number: 1000\n" * 100
    meta = db.put(1000, data, tags=["1000"])
    assert (meta.key, meta.size, meta.adler32, meta.tags) == ("1000", len(data), adler32(data), ("1000",))
    assert meta.folder == "public.test01" and meta.object == "configuration" and meta.tr > 0
    got, gmeta = db.get(1000)
    assert got == data
    assert (gmeta.version_id, gmeta.key, gmeta.size, gmeta.adler32) == (
        meta.version_id,
        "1000",
        len(data),
        adler32(data),
    )
    assert gmeta.md5 == meta.md5 and len(gmeta.md5) == 32 and gmeta.tags == ("1000",)
    assert db.keys() == ["1000"] and db.meta(1000).version_id == meta.version_id and db.meta(999) is None
    with pytest.raises(UconDBNotFound, match="Version not found"):
        db.get(999)


def test_keys_sorted_numerically(db):
    for k in (10, 9, 100):
        db.put(k, b"x%d" % k)
    assert db.keys() == ["9", "10", "100"]


def test_duplicate_key_and_override(db, server):
    first = db.put(7, b"first", tags="7")
    with pytest.raises(KeyExists, match="key 7 already exists") as e:
        db.put(7, b"second")
    assert e.value.key == "7" and e.value.status == 500
    assert server.count("POST") == 3  # challenge + first put + the refused one: never retried
    second = db.put(7, b"second", override=True)
    assert second.version_id != first.version_id
    assert db.get(7)[0] == b"second"
    old, old_meta = db.get_version(first.version_id)
    assert old == b"first" and old_meta.key is None  # history kept, key moved
    assert db.keys() == ["7"]  # the null-key version is skipped
    assert [m.key for m in db.versions()] == ["7", None]


def test_bad_password_fails_once_and_says_who(server, caplog):
    caplog.set_level(logging.DEBUG)
    client = UconDB(server.url, "test01", "configuration", user="writer", password="wrong-" + PASSWORD, **FAST)
    with pytest.raises(UconDBAuthError) as e:
        client.put(1, b"data")
    msg = str(e.value)
    assert "401" in msg and "'writer'" in msg and "test01" in msg and server.url in msg
    assert PASSWORD not in msg and "wrong-" not in msg and PASSWORD not in repr(client)
    assert "wrong-" not in caplog.text
    assert server.count("POST") == 2  # the challenge, one authenticated try: no retry


def test_credentials_in_url_are_used_but_never_shown(server, caplog):
    caplog.set_level(logging.DEBUG)
    url = server.url.replace("://", f"://writer:{PASSWORD}@")
    client = open_ucondb(url, "test01", "configuration", **FAST)
    assert client.put(3, b"abc").key == "3"
    server.fail_next("503", "503", "503", method="GET")
    with pytest.raises(UconDBError) as e:
        client.get(3)
    assert e.value.status == 503
    for text in (str(e.value), repr(client), client.url, caplog.text):
        assert PASSWORD not in text


def test_put_without_user_sends_nothing(server):
    client = UconDB(server.url, "test01", "configuration", **FAST)
    with pytest.raises(UconDBAuthError, match="no writer user"):
        client.put(1, b"x")
    assert server.count("POST") == 0


def test_unknown_folder(server):
    client = UconDB(server.url, "nosuch", "configuration", user="writer", password=PASSWORD, **FAST)
    with pytest.raises(UconDBNotFound, match="no folder nosuch"):
        client.keys()
    with pytest.raises(UconDBNotFound, match="no folder nosuch"):
        client.put(1, b"x")
    assert server.count() == 2  # no retries


def test_503_and_reset_are_retried(db, server):
    db.put(1, b"one")
    server.fail_next("503", "reset", method="GET")
    assert db.get(1)[0] == b"one"
    assert server.count("GET", "/data") == 3


def test_timeout_is_retried(db, server):
    db.put(1, b"one")
    server.fail_next("hang", path="/versions")
    assert db.keys() == ["1"]
    assert server.count("GET", "/versions") == 2


def test_gives_up_after_retries(db, server):
    server.fail_next(*["503"] * 3, path="/version")
    with pytest.raises(UconDBError) as e:
        db.version()
    assert e.value.status == 503 and server.count("GET", "/version") == 3


def test_gives_up_on_timeouts(db, server):
    server.fail_next("hang", "hang", "hang", path="/version")
    with pytest.raises(UconDBTimeout):
        db.version()


def test_post_500_is_retried(db, server):
    server.fail_next("500", method="POST")
    assert db.put(5, b"five").key == "5"
    assert len(db.versions()) == 1


def test_lost_answer_after_store_gives_one_version(db, server):
    db.version()
    server.fail_next("hang_after", method="POST", path="/data")
    meta = db.put(42, b"the blob")  # the server stored it, then the answer timed out
    assert meta.key == "42" and meta.size == 8
    assert [m.version_id for m in db.versions()] == [meta.version_id]


def test_lost_answer_on_first_challenge_round(db, server):
    server.fail_next("hang_after", "hang_after", method="POST")
    assert db.put(43, b"x").key == "43"
    assert len(db.versions()) == 1


def test_lost_answer_with_override_gives_one_new_version(db, server):
    db.put(8, b"old")
    server.fail_next("hang_after", method="POST")
    new = db.put(8, b"new", override=True)
    assert db.get(8)[0] == b"new" and new.key == "8"
    assert [m.key for m in db.versions()] == ["8", None]  # exactly one new version


def test_retried_put_finding_other_content_raises(db, server):
    db.put(9, b"theirs")
    server.fail_next("503", method="POST")
    with pytest.raises(KeyExists, match="other content"):
        db.put(9, b"ours")
    assert len(db.versions()) == 1


def test_connection_refused(tmp_path):
    with TestServer(tmp_path / "s.sqlite") as srv:
        url = srv.url
    client = UconDB(url, "test01", "configuration", timeout=0.5, retries=1, retry_delay=0.01)
    with pytest.raises(UconDBConnectionError, match="cannot reach UconDB"):
        client.version()


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            d / "key.pem",
            "-out",
            d / "cert.pem",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return d / "cert.pem", d / "key.pem"


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_tls_verified_by_default(tmp_path, cert, caplog):
    certfile, keyfile = cert
    with TestServer(tmp_path / "s.sqlite", password=PASSWORD, certfile=certfile, keyfile=keyfile) as srv:
        assert srv.url.startswith("https://")
        with pytest.raises(UconDBTLSError, match="ca_bundle"):
            UconDB(srv.url, "test01", "configuration", **FAST).version()
        trusted = UconDB(
            srv.url, "test01", "configuration", user="writer", password=PASSWORD, ca_bundle=certfile, **FAST
        )
        assert trusted.put(1, b"over tls").key == "1" and trusted.get(1)[0] == b"over tls"
        with caplog.at_level(logging.WARNING, logger="rra.ucondb"):
            insecure = UconDB(srv.url, "test01", "configuration", verify_tls=False, **FAST)
        assert "TLS verification" in caplog.text
        assert insecure.keys() == ["1"]


def test_the_environment_applies_as_requests_applies_it(tmp_path, cert, server, monkeypatch):
    """Proxies, NO_PROXY and REQUESTS_CA_BUNDLE are read once per client, with requests' own rules."""
    certfile, keyfile = cert
    for name in ("http_proxy", "HTTP_PROXY", "no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # (nothing listens on the discard port)
    with pytest.raises(UconDBConnectionError):
        UconDB(server.url, "test01", "configuration", **FAST).version()
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert UconDB(server.url, "test01", "configuration", **FAST).version()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certfile))
    with TestServer(tmp_path / "s.sqlite", password=PASSWORD, certfile=certfile, keyfile=keyfile) as srv:
        assert UconDB(srv.url, "test01", "configuration", **FAST).version()


def test_factory(tmp_path, server):
    assert isinstance(open_ucondb(server.url, "f", "o"), UconDB)
    local = open_ucondb(f"sqlite://{tmp_path}/u.sqlite", "f", "o", user="ignored", timeout=3)
    assert isinstance(local, EmbeddedUconDB) and local.keys() == []
    with pytest.raises(UconDBError, match="scheme"):
        open_ucondb("ftp://x/app", "f", "o")
