"""Our UconDB test server answers exactly as the real 3.9.7 server does.

One list of requests (every row of ../shared/docs/ucondb-wire-protocol.md, quirks included)
is sent to both, each freshly emptied; status, content type, the X-UConDB-* headers and the
body's headline must agree. The test server stays for what the real one cannot do (faults,
latency), so where they differ, the test server is wrong.
"""

import json
import re

import pytest
import requests
from requests.auth import HTTPDigestAuth

from testserver import TestServer

pytestmark = pytest.mark.reference

B1 = b"run 100 configuration, first upload\n" * 3
B2 = b"run 100 configuration, second upload\n" * 3
WRONG = ("archiver", "wrong-password")
# (what, method, path, body, auth): auth None = anonymous, "good" = a fresh digest auth
# object per folder (the realm is the folder), "reuse" = run_records' auth for test01.
REQUESTS = [
    ("version", "GET", "/version", None, None),
    ("folders", "GET", "/folders", None, None),
    ("versions, no versions yet", "GET", "/versions?folder=run_records&object=configuration", None, None),
    ("versions, unknown folder", "GET", "/versions?folder=nosuchfolder&object=configuration", None, None),
    ("objects, empty folder", "GET", "/objects?folder=run_records", None, None),
    ("objects, unknown folder", "GET", "/objects?folder=nosuchfolder", None, None),
    ("key of a brand-new object", "GET", "/data/run_records/configuration/key=100", None, None),
    ("meta_only of a brand-new object", "GET", "/data/run_records/configuration/key=100?meta_only=yes", None, None),
    ("key in an unknown folder", "GET", "/data/nosuchfolder/configuration/key=1", None, None),
    ("POST without credentials", "POST", "/data/run_records/configuration?key=100&tag=100", b"x", None),
    ("POST new key", "POST", "/data/run_records/configuration?key=100&tag=100", B1, "good"),
    ("POST same key, no override", "POST", "/data/run_records/configuration?key=100&tag=100", b"another body", "good"),
    ("POST same key, override", "POST", "/data/run_records/configuration?key=100&tag=100&override=yes", B2, "good"),
    ("versions after override", "GET", "/versions?folder=run_records&object=configuration", None, None),
    ("data by key", "GET", "/data/run_records/configuration/key=100", None, None),
    ("data by key, /get alias", "GET", "/get/run_records/configuration/key=100", None, None),
    ("data by key, meta_only", "GET", "/data/run_records/configuration/key=100?meta_only=yes", None, None),
    ("data, key as query argument", "GET", "/data/run_records/configuration?key=100", None, None),
    ("data, unknown key", "GET", "/data/run_records/configuration/key=999", None, None),
    ("data, key in path and query", "GET", "/data/run_records/configuration/key=100?key=100", None, None),
    ("data, ; in a value", "GET", "/data/run_records/configuration/key=1;2", None, None),
    ("unsafe character in a query", "GET", "/versions?folder=run_records&object=conf%3Cx", None, None),
    ("unsafe character in a path", "GET", "/data/run_records/configuration/key=a%7Cb", None, None),
    ("POST wrong password", "POST", "/data/run_records/configuration?key=101&tag=101", b"x", WRONG),
    ("POST unknown user", "POST", "/data/run_records/configuration?key=101", b"x", ("nobody", "x")),
    ("POST unknown folder", "POST", "/data/nosuchfolder/configuration?key=101", b"x", "good"),
    ("POST no object", "POST", "/data/run_records?key=101", b"x", "good"),
    (
        "POST full_meta, same bytes as key 100",
        "POST",
        "/data/run_records/configuration?key=101&tag=101&full_meta=yes",
        B2,
        "good",
    ),
    ("PUT, auth of another folder", "PUT", "/data/test01/configuration?key=1", b"put body", "reuse"),
    ("PUT, its own auth", "PUT", "/data/test01/configuration?key=1", b"put body", "good"),
    ("data by id, meta_only", "GET", "/data/run_records/configuration/id=1?meta_only=yes", None, None),
    ("data by id, unknown, meta_only", "GET", "/data/run_records/configuration/id=99?meta_only=yes", None, None),
    ("data by id", "GET", "/data/run_records/configuration/id=1", None, None),
    ("get_blob by version_id", "GET", "/get_blob?folder=run_records&version_id=1", None, None),
    ("get_blob by unknown version_id", "GET", "/get_blob?folder=run_records&version_id=99", None, None),
    ("get_blob by data_key", "GET", "/get_blob?folder=run_records&data_key=1", None, None),
    ("data of an object with no versions", "GET", "/data/test01/nosuchobject/key=1", None, None),
    (
        "versions, namespace-qualified folder",
        "GET",
        "/versions?folder=public.run_records&object=configuration",
        None,
        None,
    ),
]


def headline(response):
    """What a body says, without what differs between two runs (times, tracebacks)."""
    text = response.content.decode("utf-8", "replace")
    m = re.search(r"<h2>(.*?)</h2>\s*<h3>(.*?)</h3>", text, re.S)
    if m:
        return "html: %s / %s" % m.groups()
    if response.headers.get("Content-Type", "").startswith("text/json"):
        value = json.loads(text)
        for meta in value if isinstance(value, list) else [value]:
            if isinstance(meta, dict):
                meta.pop("tr", None)
        return "json: %s" % json.dumps(value, sort_keys=True)
    text = re.sub(r"<[^>]+>", " ", text)
    return "text: %s" % " ".join(text.split())


def exchange(base):
    """Every request of REQUESTS against one server: what each answer says."""
    session = requests.Session()
    auths = {}
    answers = []
    for what, method, path, body, auth in REQUESTS:
        folder = "test01" if "/test01/" in path else "run_records"
        if auth == "good":
            auth = auths.setdefault(folder, HTTPDigestAuth("archiver", "archiver-secret"))
        elif auth == "reuse":
            auth = auths["run_records"]
        elif isinstance(auth, tuple):
            auth = HTTPDigestAuth(*auth)
        r = session.request(method, base + path, data=body, auth=auth, timeout=30)
        challenge = r.headers.get("WWW-Authenticate", "")
        answers.append(
            {
                "what": what,
                "status": r.status_code,
                "content-type": r.headers.get("Content-Type"),
                "x-ucondb": sorted(h.lower() for h in r.headers if h.lower().startswith("x-ucondb-")),
                "x-ucondb-values": {
                    h.lower(): v
                    for h, v in r.headers.items()
                    if h.lower().startswith("x-ucondb-") and h.lower() not in ("x-ucondb-tr", "x-ucondb-metadata")
                },
                "challenge": re.sub(r'nonce="[^"]*"', "nonce=N", challenge),
                "body": headline(r),
            }
        )
    return answers


def test_the_test_server_answers_as_the_real_one(real_ucondb, tmp_path):
    real = exchange(real_ucondb.url)
    with TestServer(
        tmp_path / "double.sqlite", folders=["run_records", "test01"], user="archiver", password="archiver-secret"
    ) as double:
        ours = exchange(double.url)
    differ = [(r["what"], {k: (r[k], o[k]) for k in r if r[k] != o[k]}) for r, o in zip(real, ours) if r != o]
    assert not differ, "\n".join("%s: %s" % d for d in differ)
