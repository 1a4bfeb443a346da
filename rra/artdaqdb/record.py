"""Stored documents exactly as the C++ library writes them: key order, oids, timestamps."""

import hashlib
import os
import re
from datetime import datetime

from ..fhicl.cppjson import Object, dumps, escape

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4}\Z")
OID = re.compile(r"[0-9a-f]{24}\Z")
NO_COMMENTS = [Object([("linenum", 0), ("value", "No comments")])]
HASHES, SCHEMA = "hashes", "schema"
_NUMBER = re.compile(r"[0-9]+(?:[eE][0-9]+)?\Z")


def timestamp(when=None):
    """Local time as %Y-%m-%dT%H:%M:%S.mmm%z: the only form the C++ side accepts."""
    when = (when or datetime.now()).astimezone()
    return "%s.%03d%s" % (when.strftime("%Y-%m-%dT%H:%M:%S"), when.microsecond // 1000, when.strftime("%z"))


def parse_timestamp(text):
    """The aware datetime of a stored timestamp (ValueError if the C++ side would refuse it)."""
    if not TIMESTAMP.match(text or ""):
        raise ValueError("not an artdaq_database timestamp: %r" % (text,))
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")


def oid(collection, version, entity):
    """24 hex digits, one per (collection, version, entity): a retried store rewrites, never duplicates."""
    return hashlib.md5(("%s\0%s\0%s" % (collection, version, entity)).encode("utf-8", "surrogateescape")).hexdigest()[
        :24
    ]


def md5(data):
    """md5 of a file's source bytes, as the legacy `hashes` entity recorded it."""
    return hashlib.md5(data if isinstance(data, bytes) else data.encode("utf-8", "surrogateescape")).hexdigest()


def hashes_lines(md5s):
    """The legacy `hashes` text lines: `entity:md5` sorted by entity, then `configuration:<md5>`."""
    lines = ["%s:%s" % (e, h) for e, h in sorted(md5s.items()) if e not in (SCHEMA, HASHES)]
    return lines + ["configuration:%s" % md5(",".join(lines))]


def hashes_document(md5s):
    """fhicl_to_json of the hashes text (`e:md5` lines), built directly: only flat unquoted values."""
    pairs = [line.split(":", 1) for line in hashes_lines(md5s)]
    node = lambda v: Object(
        [("type", "number" if _NUMBER.match(v) else "string_unquoted"), ("comment", ""), ("annotation", "")]
    )
    table = lambda comment, children: Object([("type", "table"), ("comment", comment), ("children", children)])
    return {
        "document": Object(
            [
                ("data", Object([("prolog", Object()), ("main", Object(pairs))])),
                (
                    "metadata",
                    Object(
                        [
                            ("prolog", table("#prolog", Object())),
                            ("main", table("#main", Object((k, node(v)) for k, v in pairs))),
                        ]
                    ),
                ),
            ]
        ),
        "comments": [],
    }


def parse_hashes(record):
    """entity -> md5 recorded by a stored `hashes` document (the configuration line left out)."""
    main = record["document"]["data"]["main"]
    return {k: str(v) for k, v in main.items() if k != "configuration"}


def build(converted, entity, collection, version, configuration, run, ts):
    """The stored document for one entity: fhicl_to_json output wrapped in the C++ bookkeeping."""
    return Object(
        [("document", searchable(converted["document"]))]
        + shell(converted.get("comments"), entity, collection, version, configuration, run, ts)
    )


def searchable(document):
    """The `document` part as stored: with its (empty) `search` list."""
    return document if "search" in document else Object(list(document) + [("search", [])])


def shell(comments, entity, collection, version, configuration, run, ts):
    """Everything of the stored document after `document`: comments and the C++ bookkeeping."""
    named = lambda name: Object([("name", name), ("assigned", ts)])
    event = lambda kind, name: Object([("event", kind), ("timestamp", ts), ("value", named(name))])
    return Object(
        [
            ("comments", comments or [c.copy() for c in NO_COMMENTS]),
            (
                "origin",
                Object(
                    [
                        ("format", "fhicl"),
                        ("name", entity),
                        ("source", "fhicl_to_json"),
                        ("timestamp", ts),
                        ("created", ts),
                        ("rawdata", []),
                    ]
                ),
            ),
            ("version", version),
            ("entities", [named(entity)]),
            ("configurations", [named(configuration)]),
            ("changelog", "notprovided"),
            (
                "bookkeeping",
                Object(
                    [
                        ("isdeleted", False),
                        ("isreadonly", False),
                        (
                            "updates",
                            [
                                event("addConfiguration", configuration),
                                event("setVersion", version),
                                event("setCollection", collection),
                                event("addEntity", entity),
                                event("addRun", str(run)),
                            ],
                        ),
                        ("created", ts),
                    ]
                ),
            ),
            ("_id", Object([("$oid", oid(collection, version, entity))])),
            ("collection", collection),
            ("aliases", Object([("active", []), ("history", [])])),
            ("runs", [named(str(run))]),
            ("attachments", []),
            ("configtype", "notprovided"),
        ]
    )


# what build() wraps when the document comes as text (build_text): a stand-in the size of nothing
TEXT = {"document": Object([("search", [])])}


def build_text(record, document, comments):
    """(index fields, text) of `record` = build(TEXT, ...) with the C++ texts of a fhicl_to_json result's
    `document` (without search) and `comments` in it (fhicl.document.sections): the bytes dumps() writes
    of the whole record, without the big tree."""
    rest = Object(record[2:])
    # an object's text is '{\n', its pairs joined by ',\n', '\n}': the document's pairs, then search
    text = f'{{\n"document" : {document[:-2]},\n"search" : [\n\n]\n}},\n"comments" : {comments},\n{dumps(rest)[2:]}'
    return fields(record), text


def same_document(stored, converted):
    """Whether a stored document holds what fhicl_to_json makes of a file (bookkeeping aside)."""
    doc = lambda d: [(k, v) for k, v in d["document"].items() if k != "search"]
    comments = converted.get("comments") or NO_COMMENTS
    return doc(stored) == doc(converted) and stored.get("comments") == comments


def fields(record):
    """What index.json keeps of a document: oid, version, configurations, entities, aliases, runs."""
    names = lambda key: [str(x["name"]) for x in record.get(key) or ()]
    aliases = record.get("aliases")
    return {
        "oid": str(record["_id"]["$oid"]),
        "version": str(record["version"]),
        "configurations": [(str(c["name"]), str(c["assigned"])) for c in record.get("configurations") or ()],
        "entities": names("entities"),
        "runs": names("runs"),
        "aliases": [str(a["name"]) for a in (aliases.get("active") or ())] if aliases else [],
    }


def system_metadata(uri, ts, new_oid):
    """The one-line SystemMetadata document the C++ library writes on its first connection."""
    u = os.uname()
    q = lambda s: '"%s"' % escape(str(s))
    keys = ("sysname", "nodename", "release", "version", "machine")
    uname = ",".join("%s:%s" % (q(k), q(getattr(u, k))) for k in keys)
    return (
        '{"document":{"name":"artdaq","uri":%s,"locale":"en_US.UTF-8","create_time":%s,"create_user":%s,'
        '"uname":{%s},"database_format":3},"_id": { "$oid":%s}}'
        % (q(uri), q(ts), q(os.environ.get("USER", "")), uname, q(new_oid))
    )
