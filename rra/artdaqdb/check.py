"""Index <-> documents consistency of a filesystemdb, and rebuilding indexes from the documents."""

import json
import os
import re
import shutil
from datetime import datetime
from pathlib import Path

from ..fhicl import cppjson
from . import index
from .errors import ArtdaqDBError
from .filesystem import INTENT, METADATA, TMP, FilesystemDB, writer_alive
from .record import OID, TIMESTAMP, fields
from .runs import SCHEMA_COLLECTION

DOC_KEYS = (
    "document",
    "comments",
    "origin",
    "version",
    "entities",
    "configurations",
    "changelog",
    "bookkeeping",
    "_id",
    "collection",
    "aliases",
    "runs",
    "attachments",
    "configtype",
)
DOC_NAME = re.compile(r"([0-9a-f]{24})\.json\Z")


def load_document(path):
    """A document as plain dicts (fast), falling back to the C++ dialect reader."""
    raw = Path(path).read_bytes()
    try:
        return json.loads(raw.decode("utf-8", "surrogateescape"), strict=False)
    except ValueError:
        return cppjson.loads(raw)


def _timestamps(doc):
    """Every timestamp a document carries, for the format check."""
    origin, book = doc.get("origin") or {}, doc.get("bookkeeping") or {}
    yield origin.get("timestamp"), "origin.timestamp"
    yield origin.get("created"), "origin.created"
    yield book.get("created"), "bookkeeping.created"
    for key in ("entities", "configurations", "runs"):
        for item in doc.get(key) or ():
            yield item.get("assigned"), key + ".assigned"


def check_collection(db, collection, inflight=frozenset()):
    """Problems of one collection, as 'Collection/file: message' lines.

    inflight: oids of stores not finished (see FilesystemDB.intents); they are left out, as if
    rolled back, which is what happens to them unless their writer commits them.
    """
    problems = []
    say = lambda name, msg: problems.append("%s/%s: %s" % (collection, name, msg))
    directory = db.path / collection
    names = sorted(os.listdir(directory))
    docs = {m.group(1) for m in map(DOC_NAME.match, names) if m} - set(inflight)
    for name in names:
        if name != index.NAME and not DOC_NAME.match(name):
            say(name, "stray file in a collection (the C++ side would read it as a document)")
    if index.NAME not in names:
        if docs and collection != METADATA:  # the C++ tools write SystemMetadata without an index
            say(index.NAME, "missing; %d documents are unindexed" % len(docs))
        return problems
    try:
        raw = load_document(directory / index.NAME)
    except (ValueError, OSError) as e:
        say(index.NAME, "unreadable: %s" % e)
        return problems
    raw = index._plain(raw)
    if not isinstance(raw, dict):
        say(index.NAME, "not a JSON object")
        return problems
    for key in index.KEYS:
        value = raw.get(key)
        if value is None:
            say(index.NAME, "key %r missing" % key)
            continue
        lists = {"": value} if key == "ouid" else value if isinstance(value, dict) else None
        if lists is None or not all(isinstance(v, list) for v in lists.values()):
            say(index.NAME, "%r has the wrong shape" % key)
            continue
        for name, items in lists.items():
            if any(not a < b for a, b in zip(items, items[1:])):
                say(index.NAME, "%s%s is not sorted and unique" % (key, "[%r]" % name if name else ""))
    if collection == METADATA:
        return problems
    parsed = index.Index.parse(json.dumps(raw))
    parsed.remove(inflight)
    d = parsed.data
    ouids = set(d["ouid"])
    expected = {key: {} for key in index.KEYS[1:]}
    for oid in sorted(ouids | docs):
        name = "%s.json" % oid
        if not OID.match(oid):
            say(index.NAME, "oid %r is not 24 lowercase hex digits" % oid)
        if oid not in docs:
            say(name, "indexed but the document is missing")
            continue
        try:
            doc = load_document(directory / name)
            f = fields(doc)
        except (ValueError, OSError, KeyError, TypeError, AttributeError) as e:
            say(name, "unreadable document: %s" % e)
            continue
        if oid not in ouids:
            say(name, "document not in the index (ouid)")
        if f["oid"] != oid:
            say(name, "_id is %s, not the file name" % f["oid"])
        if doc.get("collection") != collection:
            say(name, "collection is %r, not %r" % (doc.get("collection"), collection))
        missing = [k for k in DOC_KEYS if k not in doc]
        if missing:
            say(name, "keys missing: %s" % ", ".join(missing))
        for ts, where in _timestamps(doc):
            if not TIMESTAMP.match(str(ts or "")):
                say(name, "%s %r is not a %%Y-%%m-%%dT%%H:%%M:%%S.mmm%%z timestamp" % (where, ts))
        add = lambda key, value, item=oid: expected[key].setdefault(value, set()).add(item)
        add("version", f["version"])
        for c, assigned in f["configurations"]:
            add("configurations.name", c)
            add("configurations.assigned", c, assigned)
        for key, values in (
            ("entities.name", f["entities"]),
            ("aliases.active.name", f["aliases"]),
            ("runs.name", f["runs"]),
        ):
            for v in values:
                add(key, v)
    for key, wanted in expected.items():
        have = d[key]
        for value, items in sorted(wanted.items()):
            lacking = sorted(items - set(have.get(value, ())))
            if lacking:
                say(index.NAME, "%s[%r] lacks %s" % (key, value, ", ".join(lacking)))
        for value, items in sorted(have.items()):
            extra = sorted(set(items) - wanted.get(value, set()))
            if extra and key != "configurations.assigned":
                say(
                    index.NAME,
                    "%s[%r] lists %s, whose documents say otherwise or are missing" % (key, value, ", ".join(extra)),
                )
    listed = lambda key: {o for items in d[key].values() for o in items}
    for oid in sorted(listed("configurations.name") - (listed("entities.name") & listed("version"))):
        say(
            index.NAME,
            "%s is under configurations.name but not under entities.name and version "
            "(C++ listings fail for the whole collection)" % oid,
        )
    for oid in sorted((listed("version") | listed("entities.name") | listed("runs.name")) - ouids):
        say(index.NAME, "%s is listed but not in ouid" % oid)
    return problems


def check(db):
    """Every problem of the database (empty list: consistent)."""
    if not isinstance(db, FilesystemDB):
        raise db.error("check works on filesystemdb:// databases (native backend)")
    if not db.path.is_dir():
        return ["%s: database directory does not exist" % db.path]
    intents, inflight = db.intents(), {}
    for alive, docs in intents.values():
        for c, oids in docs.items():
            inflight.setdefault(c, set()).update(oids)
    problems = [
        "%s: leftover temp file of an interrupted write" % n
        for n in sorted(os.listdir(db.path))
        if n.startswith(TMP) and not writer_alive(n)
    ]
    problems += [
        "%s: unfinished store of a writer that is gone; the archiver rolls it back when it next "
        "opens the database (or run check --repair)" % n
        for n, (alive, _) in intents.items()
        if not alive
    ]
    collections = db.collections()
    meta = db.path / METADATA
    if collections and not (meta.is_dir() and any(n != index.NAME and n.endswith(".json") for n in os.listdir(meta))):
        problems.append("%s: no SystemMetadata document" % METADATA)
    for c in ([METADATA] if meta.is_dir() else []) + collections:
        problems += check_collection(db, c, inflight.get(c, ()))
    problems += _incomplete_versions(db, inflight)
    return problems


def _incomplete_versions(db, inflight):
    """Versions that have documents but no schema in SystemLayout: a store that did not finish."""
    versions = {}
    for c in db.collections():
        try:
            pending = inflight.get(c, set())
            versions[c] = {v for v, oids in db.index(c).data["version"].items() if set(oids) - pending}
        except ArtdaqDBError:
            return []  # an unreadable index is reported already; nothing to compare against
    committed = versions.get(SCHEMA_COLLECTION, set())
    return [
        "%s: version %s has no schema document in %s (incomplete store)" % (c, v, SCHEMA_COLLECTION)
        for c in sorted(versions)
        for v in sorted(versions[c] - committed)
    ]


def repair(db, backup_dir=None):
    """Rebuild every index from its documents; old indexes and unreadable documents go to backup_dir."""
    stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
    backup = Path(backup_dir or "%s.rra-backup-%s" % (db.path, stamp))
    actions = db.sweep()  # temp files of dead writers, their unfinished stores
    for name in sorted(os.listdir(db.path)):
        if name.startswith(INTENT) and not writer_alive(name):  # unreadable, or the sweep would have taken it
            backup.mkdir(parents=True, exist_ok=True)
            shutil.move(str(db.path / name), str(backup / name))
            actions.append("moved unreadable %s to %s" % (name, backup))
    for c in db.collections():
        directory = db.path / c
        with db.lock(c):
            idx = index.Index({k: [] if k == "ouid" else {} for k in index.KEYS})
            for name in sorted(os.listdir(directory)):
                if not DOC_NAME.match(name):
                    continue
                try:
                    f = fields(load_document(directory / name))
                    if f["oid"] + ".json" != name:
                        raise ValueError("_id %s differs from the file name" % f["oid"])
                    idx.add(f)
                except (ValueError, OSError, KeyError, TypeError, AttributeError):
                    (backup / c).mkdir(parents=True, exist_ok=True)
                    shutil.move(str(directory / name), str(backup / c / name))
                    actions.append("moved unreadable %s/%s to %s" % (c, name, backup / c))
            old = directory / index.NAME
            if old.exists():
                (backup / c).mkdir(parents=True, exist_ok=True)
                shutil.copy2(str(old), str(backup / c / index.NAME))
            db.write_index(c, idx)
            actions.append("rebuilt %s/%s from %d documents" % (c, index.NAME, len(idx.data["ouid"])))
    if db.collections():
        meta = db.path / METADATA
        if meta.is_dir() and (meta / index.NAME).exists():
            try:
                json.loads((meta / index.NAME).read_text())
            except ValueError:
                (backup / METADATA).mkdir(parents=True, exist_ok=True)
                shutil.copy2(str(meta / index.NAME), str(backup / METADATA / index.NAME))
                db.write_file(meta / index.NAME, index.EMPTY.encode())
                actions.append("rewrote %s/%s" % (METADATA, index.NAME))
        db.ensure_metadata()
    if backup.exists():
        actions.append("backup in %s" % backup)
    return actions
