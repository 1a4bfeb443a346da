"""UconDB semantics in one local SQLite file: the no-server default and the test server's backend."""

import hashlib
import json
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import replace

from .errors import KeyExists, UconDBNotFound
from .meta import Meta, adler32, run_keys

SCHEMA = """
CREATE TABLE IF NOT EXISTS folders (name TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS objects (id INTEGER PRIMARY KEY, folder TEXT NOT NULL, name TEXT NOT NULL,
                                    UNIQUE (folder, name));
CREATE TABLE IF NOT EXISTS data (id INTEGER PRIMARY KEY, adler32 INTEGER NOT NULL,
                                 size INTEGER NOT NULL, bytes BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS data_sum ON data (adler32, size);
CREATE TABLE IF NOT EXISTS versions (id INTEGER PRIMARY KEY AUTOINCREMENT, object_id INTEGER NOT NULL,
                                     key TEXT, data_id INTEGER NOT NULL, tv REAL NOT NULL,
                                     tr REAL NOT NULL, tags TEXT NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS version_key ON versions (object_id, key);
"""

VERSION_SQL = """SELECT v.id, v.key, d.size, d.adler32, v.tr, v.tv, v.tags, v.data_id, o.folder, o.name
                 FROM versions v JOIN data d ON d.id = v.data_id JOIN objects o ON o.id = v.object_id"""


class Store:
    """Folders → objects → append-only versions, safe for many threads and processes (WAL)."""

    def __init__(self, path, namespace="public", create=True, busy_timeout=30.0):
        self.path, self.namespace, self.create, self.busy_timeout = str(path), namespace, create, busy_timeout
        self.url = "sqlite://" + self.path
        self._use_wal()
        with self._tx() as db:
            for stmt in filter(str.strip, SCHEMA.split(";")):
                db.execute(stmt)

    def __repr__(self):
        return f"Store({self.path!r}, create={self.create})"

    def _use_wal(self):
        """WAL is a property of the file, set by whoever opens a new store first. Switching
        needs the file to itself, and setting or reading the mode while another process has
        the file to itself (switching, or checkpointing as its last connection closes) can
        fail at once with "database is locked", without SQLite's busy wait: seen once in
        twenty runs of the suite's four processes opening one new store. Retried within the
        busy timeout."""
        deadline = time.monotonic() + self.busy_timeout
        while True:
            try:
                with self._db() as db:
                    if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                        db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    @contextmanager
    def _db(self):
        """A short-lived connection: cheap in SQLite and safe across threads and forks."""
        db = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
        try:
            db.execute("PRAGMA synchronous=NORMAL")
            yield db
        finally:
            db.close()

    @contextmanager
    def _tx(self):
        """A write transaction that takes the lock up front, so concurrent writers queue, not deadlock."""
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def add_folder(self, folder):
        """Declare a folder (the test server's fixed list)."""
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO folders VALUES (?)", (folder,))

    def add_object(self, folder, obj):
        """Declare an object with no versions yet (reads as 404 Object O not found)."""
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO folders VALUES (?)", (folder,))
            db.execute("INSERT OR IGNORE INTO objects (folder, name) VALUES (?, ?)", (folder, obj))

    def has_folder(self, folder):
        """True if the folder exists (always true for an on-demand store)."""
        with self._db() as db:
            return self.create or db.execute("SELECT 1 FROM folders WHERE name=?", (folder,)).fetchone() is not None

    def has_object(self, folder, obj):
        """True if the object exists, with or without versions."""
        with self._db() as db:
            return db.execute("SELECT 1 FROM objects WHERE folder=? AND name=?", (folder, obj)).fetchone() is not None

    def folders(self):
        """Folder names."""
        with self._db() as db:
            return [r[0] for r in db.execute("SELECT name FROM folders ORDER BY name")]

    def objects(self, folder):
        """Names of the folder's objects that have at least one version."""
        self._check_folder(folder)
        with self._db() as db:
            return [
                r[0]
                for r in db.execute(
                    "SELECT DISTINCT o.name FROM objects o JOIN versions v ON v.object_id = o.id"
                    " WHERE o.folder=? ORDER BY o.name",
                    (folder,),
                )
            ]

    def _check_folder(self, folder):
        if not self.has_folder(folder):
            raise UconDBNotFound(f"Folder {folder} not found", self.url, 404)

    def _meta(self, row):
        vid, key, size, a32, tr, tv, tags, data_id, folder, obj = row
        return Meta(
            version_id=vid,
            key=key,
            size=size,
            adler32=a32,
            tr=tr,
            tv=tv,
            tags=tuple(json.loads(tags)),
            data_key=str(data_id),
            folder=f"{self.namespace}.{folder}",
            object=obj,
        )

    def versions(self, folder, obj):
        """All versions of an object, newest first; 404 for an unknown folder or an object without versions."""
        self._check_folder(folder)
        with self._db() as db:
            rows = db.execute(
                VERSION_SQL + " WHERE o.folder=? AND o.name=? ORDER BY v.tr DESC, v.id DESC", (folder, obj)
            ).fetchall()
        if not rows:
            raise UconDBNotFound(f"Object {obj} not found", self.url, 404)
        return [self._meta(r) for r in rows]

    def find(self, folder, obj, key=None, version_id=None):
        """Metadata of the version with this key (or this version id); 404 Version not found otherwise.

        obj None: a version id anywhere in the folder (as the server reads /data/F/O/id=N).
        """
        self._check_folder(folder)
        where, arg = ("v.id=?", int(version_id)) if version_id is not None else ("v.key=?", str(key))
        if obj is None:
            where, args = "o.folder=? AND " + where, (folder, arg)
        else:
            where, args = "o.folder=? AND o.name=? AND " + where, (folder, obj, arg)
        with self._db() as db:
            row = db.execute(VERSION_SQL + " WHERE " + where, args).fetchone()
        if row is None:
            raise UconDBNotFound("Version not found", self.url, 404)
        return self._meta(row)

    def read(self, folder, obj, key=None, version_id=None):
        """(bytes, Meta) of one version, by key or by version id."""
        meta = self.find(folder, obj, key, version_id)
        return self.blob(meta.data_key), meta

    def blob(self, data_key):
        """Raw bytes of a data row (what /get_blob serves)."""
        with self._db() as db:
            row = db.execute("SELECT bytes FROM data WHERE id=?", (int(data_key),)).fetchone()
        if row is None:
            raise UconDBNotFound("Data not found", self.url, 404)
        return bytes(row[0])

    def put(self, folder, obj, key, data, tags=(), tv=0.0, override=False):
        """Append a version; the key is unique per object unless override moves it from the old version."""
        data = bytes(data)
        size, a32 = len(data), adler32(data)
        key = None if key is None else str(key)
        with self._tx() as db:
            if self.create:
                db.execute("INSERT OR IGNORE INTO folders VALUES (?)", (folder,))
                db.execute("INSERT OR IGNORE INTO objects (folder, name) VALUES (?, ?)", (folder, obj))
            elif db.execute("SELECT 1 FROM folders WHERE name=?", (folder,)).fetchone() is None:
                raise UconDBNotFound(f"Folder {folder} not found", self.url, 404)
            row = db.execute("SELECT id FROM objects WHERE folder=? AND name=?", (folder, obj)).fetchone()
            if row is None:
                raise UconDBNotFound(f"Object {obj} not found", self.url, 404)
            object_id = row[0]
            if key is not None:
                old = db.execute("SELECT id FROM versions WHERE object_id=? AND key=?", (object_id, key)).fetchone()
                if old and not override:
                    raise KeyExists(f"Version of object {obj} with key {key} already exists", self.url, key=key)
                if old:
                    db.execute("UPDATE versions SET key=NULL WHERE id=?", old)
            data_id = self._dedup(db, data, size, a32)
            vid = db.execute(
                "INSERT INTO versions (object_id, key, data_id, tv, tr, tags) VALUES (?, ?, ?, ?, ?, ?)",
                (object_id, key, data_id, float(tv or 0), time.time(), json.dumps(list(tags))),
            ).lastrowid
            return self._meta(db.execute(VERSION_SQL + " WHERE v.id=?", (vid,)).fetchone())

    @staticmethod
    def _dedup(db, data, size, a32):
        """Reuse the data row of an identical blob; identical means same adler32, size and bytes."""
        for data_id, stored in db.execute("SELECT id, bytes FROM data WHERE adler32=? AND size=?", (a32, size)):
            if bytes(stored) == data:
                return data_id
        return db.execute(
            "INSERT INTO data (adler32, size, bytes) VALUES (?, ?, ?)", (a32, size, sqlite3.Binary(data))
        ).lastrowid


class EmbeddedUconDB:
    """The UconDB client interface over a local Store, for running without a server."""

    def __init__(self, path, folder, object, **_ignored):
        self.store, self.folder, self.object = Store(path), folder, object
        self.url = self.store.url

    def __repr__(self):
        return f"EmbeddedUconDB({self.store.path!r}, folder={self.folder!r}, object={self.object!r})"

    def close(self):
        """Nothing to release: every call opens and closes its own connection."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def version(self):
        """Not a server: say so, with the SQLite version."""
        return f"embedded-sqlite-{sqlite3.sqlite_version}"

    def versions(self):
        """All versions (Meta), newest first; an object with no versions yet is empty, not an error."""
        try:
            return self.store.versions(self.folder, self.object)
        except UconDBNotFound as e:
            if e.message.startswith(("Object ", "Folder ")):
                return []
            raise

    def keys(self):
        """Sorted run keys; versions whose key moved away (null) are skipped."""
        return run_keys(self.versions())

    def meta(self, key):
        """Meta of the version holding key, or None."""
        try:
            return self.store.find(self.folder, self.object, key=key)
        except UconDBNotFound:
            return None

    def get(self, key):
        """(bytes, Meta) of the version holding key."""
        data, meta = self.store.read(self.folder, self.object, key=key)
        return data, _with_md5(meta, data)

    def get_version(self, version_id):
        """(bytes, Meta) of any version, including ones whose key was overridden."""
        data, meta = self.store.read(self.folder, self.object, version_id=version_id)
        return data, _with_md5(meta, data)

    def put(self, key, data, tags=None, override=False, tv=0.0):
        """Store data under key; KeyExists if the key is taken and override is false."""
        tags = (tags,) if isinstance(tags, str) else tuple(tags or ())
        return _with_md5(self.store.put(self.folder, self.object, key, data, tags, tv, override), bytes(data))


def _with_md5(meta, data):
    """Meta plus the MD5 the client computes itself (the server has none)."""
    return replace(meta, md5=hashlib.md5(data).hexdigest())
