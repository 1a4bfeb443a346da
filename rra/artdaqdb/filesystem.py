"""The native filesystemdb backend: the C++ library's on-disk format, written and read in pure Python."""

import contextlib
import hashlib
import json
import logging
import os
import uuid
from collections import OrderedDict
from pathlib import Path

import filelock

from ..atomic import fsync_all, fsync_dir, fsync_dirs
from ..fhicl import cppjson
from . import index
from .errors import ArtdaqDBError
from .record import (
    HASHES,
    NO_COMMENTS,
    SCHEMA,
    TEXT,
    build,
    build_text,
    hashes_document,
    parse_hashes,
    parse_timestamp,
    same_document,
    system_metadata,
    timestamp,
)
from .runs import SCHEMA_COLLECTION, ArtdaqDB, Entry, RunState, version_number
from .uri import filesystem_path

METADATA = "SystemMetadata"
TMP, INTENT = ".rra-tmp.", ".rra-intent."  # + '<pid>.<random>.<host>': whose they are
HOST = os.uname().nodename
LOCK_TIMEOUT = 600
POLL = 0.005  # seconds between lock attempts: locks are held for one index write, milliseconds
RUN_LOCKS = 64
MEMO_CHARS = 32 << 20  # per cache below: consecutive runs mostly store and export the same files
log = logging.getLogger(__name__)


class FilesystemDB(ArtdaqDB):
    """filesystemdb:// in pure Python; reads never write, writes lock and replace atomically.

    Temp and lock files live in the database root as dot files: the C++ side treats every
    directory there as a collection and every file in a collection as a document, but
    ignores plain files in the root.
    """

    backend = "native"

    def __init__(self, uri, fcl_conf_dir=None):
        super().__init__(uri, fcl_conf_dir)
        self.path = Path(filesystem_path(self.uri))
        self._documents = _Memo(MEMO_CHARS)  # (entity, sha256 of the file) -> (stored `document` text, comments)
        self._exports = _Memo(MEMO_CHARS)  # sha256 of a stored `document` text -> its exported FHiCL

    # -- reading -------------------------------------------------------------------------
    def collections(self):
        """Collection names (directories of the database), SystemMetadata left out."""
        try:
            return sorted(
                e.name
                for e in os.scandir(self.path)
                if e.is_dir() and e.name != METADATA and not e.name.startswith(".")
            )
        except FileNotFoundError:
            return []
        except OSError as e:
            raise self.error("cannot list the database: %s" % e.strerror) from None

    def index(self, collection):
        """The parsed index.json of a collection (empty if missing)."""
        path = self.path / collection / index.NAME
        try:
            return index.load(path, self.journal(collection))
        except OSError as e:
            raise self.error("cannot read: %s" % e.strerror, file=str(path)) from None
        except ArtdaqDBError as e:
            raise self.error(e.message, file=e.file) from None

    def read(self, collection, oid, run=None):
        """One stored document as cppjson values."""
        path = self.path / collection / ("%s.json" % oid)
        try:
            return cppjson.loads(path.read_bytes())
        except OSError as e:
            raise self.error("indexed document cannot be read: %s" % e.strerror, run, str(path)) from None
        except cppjson.JSONError as e:
            raise self.error("document is not valid JSON: %s" % e, run, str(path)) from None

    def runs(self):
        idx = self.index(SCHEMA_COLLECTION).data
        schemas = set(idx["entities.name"].get(SCHEMA, ()))
        return sorted(int(r) for r, oids in idx["runs.name"].items() if r.isdigit() and not schemas.isdisjoint(oids))

    def latest(self, run):
        run = int(run)
        collections = self.collections()
        indexes = [self.index(c) for c in collections]  # one look at each, for the whole answer
        docs = [
            (c, oid, version, entities, configs)
            for c, idx in zip(collections, indexes)
            for oid, version, entities, configs in idx.run_docs(run)
        ]
        commits = [
            (configs[0], version)
            for c, oid, version, entities, configs in docs
            if c == SCHEMA_COLLECTION and SCHEMA in entities and configs and version
        ]
        if not commits:
            return None
        configuration = max(commits, key=lambda cv: (version_number(cv[1], cv[0]), cv[1]))[0]
        committed = {v for c, v in commits if c == configuration}
        # As the C++ readers choose: the greatest version as text (Cv9 over Cv10), then the smallest oid.
        version, best = max(committed), {}
        for c, oid, v, entities, configs in docs:
            if v in committed and configuration in configs:
                for entity in entities:
                    old = best.get(entity)
                    if old is None or v > old.version or (v == old.version and oid < old.oid):
                        best[entity] = Entry(c, v, oid)
        entities = dict(sorted(best.items()))
        state = RunState(run, configuration, version, _stored_at(configuration, indexes), entities)
        hashes = entities.get(HASHES)
        known = parse_hashes(self.read(hashes.collection, hashes.oid, run)) if hashes else {}
        state.md5 = {
            e: (known.get(e) if hashes and entry.version <= hashes.version else None)
            for e, entry in entities.items()
            if e not in (SCHEMA, HASHES)
        }
        return state

    def exported(self, run):
        from ..fhicl import FhiclError, to_fhicl

        state = self.latest(run)
        if state is None:
            raise self.error("run is not archived", run)
        texts = {}
        for entity, entry in state.entities.items():
            path = self.path / entry.collection / ("%s.json" % entry.oid)
            try:
                data = path.read_bytes()
            except OSError as e:
                raise self.error("indexed document cannot be read: %s" % e.strerror, run, str(path)) from None
            key = document_key(data)
            text = self._exports.get(key)
            if text is None:
                try:
                    text = to_fhicl(cppjson.loads(data))
                except cppjson.JSONError as e:
                    raise self.error("document is not valid JSON: %s" % e, run, str(path)) from None
                except FhiclError as e:
                    raise self.error(
                        "cannot export %s: %s" % (entity, e), run, "%s/%s.json" % (entry.collection, entry.oid)
                    ) from None
                self._exports.put(key, text, len(text))
            texts["%s.fcl" % entity] = text
        return texts

    # -- writing -------------------------------------------------------------------------
    def lock(self, name):
        """A lock file in the database root, shared by every rra process using this database."""
        self.path.mkdir(parents=True, exist_ok=True)
        return _Lock(self, str(self.path / (".rra-lock.%s" % name)))

    def _run_locks(self, runs):
        return [self.lock("run%02d" % n) for n in sorted({run % RUN_LOCKS for run in runs})]

    def write_files(self, files):
        """Replace each path with its data: temp files in the root, written, then all fsynced, then renamed.

        The fsyncs are in flight together (atomic.fsync_all), so the file system commits
        them together instead of once per document. The caller fsyncs the directories
        when the renames must be durable.
        """
        pending = []
        try:
            for path, data in files:
                tmp = self.path / _own(TMP)
                pending.append([os.open(str(tmp), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp, path])
                view = memoryview(data)
                while view:
                    view = view[os.write(pending[-1][0], view) :]
            fsync_all(fd for fd, _, _ in pending)
            for item in pending:
                os.close(item[0])
                item[0] = None
            for fd, tmp, path in pending:
                os.replace(str(tmp), str(path))
        except BaseException:
            for fd, tmp, path in pending:
                with contextlib.suppress(OSError):
                    if fd is not None:
                        os.close(fd)
                    os.unlink(str(tmp))
            raise

    def write_file(self, path, data):
        self.write_files([(path, data)])

    def journal(self, collection):
        """Root dot file listing what each index write added, so other processes need not re-parse."""
        return str(self.path / (".rra-journal.%s" % collection))

    def write_index(self, collection, idx, added=(), removed=False):
        """Replace a collection's index.json atomically and durably (caller holds its lock)."""
        path = self.path / collection / index.NAME
        index.save(path, idx, self._durable, self.journal(collection), added, removed)

    def _durable(self, path, data):
        self.write_file(path, data)
        fsync_dir(Path(path).parent)

    def sweep(self):
        """Undo what a writer that died (kill -9, power cut) left half done.

        Its temp files go; a store it had not committed is rolled back out of the indexes and
        its documents removed (see _write). Called by the archiver when it opens the database
        and by `check --repair`; reading tools never write.
        """
        if not self.path.is_dir():
            return []
        done = []
        for name in sorted(os.listdir(self.path)):
            if name.startswith((TMP, INTENT)) and not writer_alive(name):
                if name.startswith(INTENT):
                    try:
                        done.append(self._roll_back(self.path / name))
                    except ArtdaqDBError as e:
                        log.warning("%s", e)
                else:
                    with contextlib.suppress(OSError):
                        os.unlink(self.path / name)
                        done.append("removed leftover %s" % name)
        return [line for line in done if line]

    def intents(self):
        """{intent file name: (writer alive, {collection: [oids]})} of stores not yet finished."""
        found = {}
        for name in sorted(os.listdir(self.path)) if self.path.is_dir() else ():
            if name.startswith(INTENT):
                try:  # (an intent is written whole, by rename)
                    docs = _load_intent(self.path / name)["docs"]
                except (OSError, ValueError, KeyError, TypeError):
                    docs = {}
                found[name] = (writer_alive(name), docs)
        return found

    def _begin(self, docs, assigned, configuration=None):
        """Record, durably, what a store is about to add ({collection: [oid]}, its (configuration,
        stamp) pairs), so a store cut short can be undone.

        configuration: instead, a new configuration another program (bulkloader) is about to
        store; undoing it removes every document of that configuration.
        """
        intent = self.path / _own(INTENT)
        plan = {"docs": docs, "assigned": sorted(set(assigned))}
        if configuration:
            plan["configuration"] = configuration
        text = json.dumps(plan)
        self.write_file(intent, text.encode())
        fsync_dir(self.path)
        return intent

    def _roll_back(self, intent):
        """Take an unfinished store out of the indexes and delete its documents; None if it had committed.

        SystemLayout's index is written last, so a store whose schema documents it lists is
        complete and is kept. The intent file goes last: a rollback cut short is done again.
        """
        try:
            plan = _load_intent(intent)
            docs, assigned = plan["docs"], [tuple(a) for a in plan["assigned"]]
            configuration = plan.get("configuration")
        except FileNotFoundError:
            return None  # another process finished it
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            raise self.error(
                "unreadable store intent, left for `rra artdaqdb check --repair`", file=str(intent)
            ) from None
        if configuration:  # a bulkloader store: everything of its (new) configuration goes
            docs, assigned = self._configuration_docs(configuration)
            committed = False
        else:
            index.forget(self.path / SCHEMA_COLLECTION / index.NAME)
            layout = set(self.index(SCHEMA_COLLECTION).data["ouid"])
            committed = SCHEMA_COLLECTION in docs and set(docs[SCHEMA_COLLECTION]) <= layout
        if not committed:
            for collection in sorted(docs, key=lambda c: (c != SCHEMA_COLLECTION, c)):
                directory = self.path / collection
                with self.lock(collection):
                    index.forget(directory / index.NAME)
                    idx = self.index(collection)
                    if idx.remove(docs[collection], assigned):
                        self.write_index(collection, idx, removed=True)
                    for oid in docs[collection]:
                        with contextlib.suppress(FileNotFoundError):
                            os.unlink(directory / ("%s.json" % oid))
                    if directory.is_dir():
                        fsync_dir(directory)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(intent)
        if committed:
            return None
        return "rolled back an unfinished store of %d documents (%s)" % (
            sum(len(v) for v in docs.values()),
            intent.name,
        )

    def _configuration_docs(self, configuration):
        """({collection: [oid]}, [(configuration, stamp)]) of every document of a configuration."""
        docs, assigned = {}, []
        for collection in self.collections():
            index.forget(self.path / collection / index.NAME)
            data = self.index(collection).data
            if data["configurations.name"].get(configuration):
                docs[collection] = list(data["configurations.name"][configuration])
                stamps = data["configurations.assigned"].get(configuration, ())
                assigned += [(configuration, t) for t in stamps]
        return docs, assigned

    def ensure_metadata(self):
        """The SystemMetadata document the C++ library writes when it first connects."""
        directory = self.path / METADATA
        if getattr(self, "_has_metadata", False):
            return
        with self.lock(METADATA):
            directory.mkdir(parents=True, exist_ok=True)
            if not any(n.endswith(".json") and n != index.NAME for n in os.listdir(directory)):
                self.write_file(directory / index.NAME, index.EMPTY.encode())
                oid = uuid.uuid4().hex[:24]
                text = system_metadata(self.uri, timestamp(), oid)
                self.write_file(directory / ("%s.json" % oid), cppjson.encode_bytes(text))
                fsync_dir(directory)
        self._has_metadata = True

    def _convert(self, run, entity, data):
        """fhicl_to_json of one file: the C++ texts of its document and comments (schema converted once
        per process). Texts, not the tree: the stored document is written from them (build_text)."""
        from ..fhicl import FhiclError
        from ..fhicl.document import sections

        try:
            converted = sections(data.decode("utf-8", "surrogateescape"), entity)
        except FhiclError as e:
            raise self.error("not valid FHiCL: %s" % e, run, "%s.fcl" % entity) from None
        return converted

    def _document(self, run, entity, data, md5s):
        """(C++ text of the `document` part without `search`, of `comments`) of one file (data None:
        the hashes entity), as build_text takes them.

        A file is converted once per process: the runs of a catch-up mostly hold the same
        files (schema, settings, the configuration's FHiCL), and only their bookkeeping differs.
        """
        if data is None:
            return cppjson.dumps(hashes_document(md5s)["document"]), cppjson.dumps(NO_COMMENTS)
        key = (entity, hashlib.sha256(data).digest())
        found = self._documents.get(key)
        if found is None:
            found = self._convert(run, entity, data)
            self._documents.put(key, found, len(found[0]) + len(found[1]))
        return found

    def _same(self, state, entity, data):
        entry = state.entities[entity]
        stored = self.read(entry.collection, entry.oid, state.run)
        document, comments = self._document(state.run, entity, data, None)
        return same_document(stored, {"document": cppjson.loads(document), "comments": cppjson.loads(comments)})

    # How a store stays all-or-nothing without a transaction (the C++ readers see only files):
    #   1. _begin writes an intent file, durably, naming every document the store will add;
    #   2. _commit writes the documents (durable, invisible: no index lists them yet), then each
    #      collection's index, SystemLayout's last. Its schema entry is the commit point: a
    #      reader that finds the run's schema there finds every other document of it too;
    #   3. the intent file is removed.
    # A failure in 2 rolls back at once (_roll_back: out of the indexes, documents deleted,
    # intent last, so a rollback cut short is done again). A writer killed before 3 leaves its
    # intent behind with a pid that is no longer alive: sweep() (every archiver start, and
    # `rra artdaqdb check --repair`) rolls it back, or keeps it if SystemLayout lists it.
    def _write(self, batch, stop=None):
        batches, stamps = {}, {}
        for run, configuration, version, items, md5s in batch:
            ts = stamps[run] = timestamp()
            for entity, collection, data in items:
                record = build(TEXT, entity, collection, version, configuration, run, ts)
                keys, text = build_text(record, *self._document(run, entity, data, md5s))
                # Kept as bytes and index fields, not as the document's tree: 200 runs at once.
                batches.setdefault(collection, []).append((keys, cppjson.encode_bytes(text)))
            if stop is not None and stop():
                break  # store what is made; the rest of the batch waits for its own tasks
        self.ensure_metadata()
        order = sorted(batches, key=lambda c: (c == SCHEMA_COLLECTION, c))
        intent = self._begin(
            {c: [f["oid"] for f, _ in batches[c]] for c in order},
            [a for c in order for f, _ in batches[c] for a in f["configurations"]],
        )
        try:
            self._commit(batches, order)
        except BaseException:
            try:
                self._roll_back(intent)
            except (OSError, ArtdaqDBError) as e:  # the disk may still be full: the next sweep finishes it
                log.warning("artdaqDB store not rolled back yet (%s); the next archiver run will", e)
            raise  # (anything else from the rollback is a bug: it propagates, chained to this)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(intent)
        return stamps

    def _commit(self, batches, order):
        """Documents first (durable), then each index once, SystemLayout last: its schema commits the version."""
        for collection in order:
            (self.path / collection).mkdir(parents=True, exist_ok=True)
        self.write_files([(self.path / c / ("%s.json" % f["oid"]), data) for c in order for f, data in batches[c]])
        fsync_dirs(self.path / collection for collection in order)
        for collection in order:
            with self.lock(collection):
                idx = self.index(collection)
                added = [f for f, _ in batches[collection]]
                try:
                    for f in added:
                        idx.add(f)
                    self.write_index(collection, idx, added)
                except BaseException:
                    index.forget(self.path / collection / index.NAME)
                    raise


def _stored_at(configuration, indexes):
    """The newest valid stamp at which a configuration was assigned, None if none."""
    stamps = [t for idx in indexes for t in idx.data["configurations.assigned"].get(configuration, ())]
    valid = []
    for t in stamps:
        try:
            valid.append((parse_timestamp(t), t))
        except ValueError:
            pass
    return max(valid)[1] if valid else None


_DOCUMENT = b'{\n"document" : '
_EXTENT = json.JSONDecoder(strict=False)  # (finds where a JSON value ends; cppjson reads it)


def document_key(data):
    """sha256 of a stored record's `document` value, as written; None if the layout is another.

    The export of a record (to_fhicl) depends on its `document` alone, not on the
    bookkeeping around it that differs per run, so equal keys export equal FHiCL.
    """
    if not data.startswith(_DOCUMENT):
        return None
    text = data.decode("utf-8", "surrogateescape")
    try:
        end = _EXTENT.raw_decode(text, len(_DOCUMENT))[1]
    except (ValueError, RecursionError):
        return None
    return hashlib.sha256(text[len(_DOCUMENT) : end].encode("utf-8", "surrogateescape")).digest()


class _Memo:
    """A per-process cache of results by key, the least recently used dropped beyond `limit` in size."""

    def __init__(self, limit):
        self.limit, self.size, self.items = limit, 0, OrderedDict()

    def get(self, key):
        found = self.items.get(key) if key is not None else None
        if found is not None:
            self.items.move_to_end(key)
            return found[0]
        return None

    def put(self, key, value, size):
        if key is None or size > self.limit:
            return
        old = self.items.pop(key, None)
        if old is not None:
            self.size -= old[1]
        self.items[key] = (value, size)
        self.size += size
        while self.size > self.limit:
            self.size -= self.items.popitem(last=False)[1][1]


def _own(prefix):
    return "%s%d.%s.%s" % (prefix, os.getpid(), uuid.uuid4().hex[:12], HOST)


def writer_alive(name):
    """Whether the process named in a .rra-tmp./.rra-intent. file still runs.

    Unknown counts as alive: another host's writer (a database on a shared file system), a
    pid that is not ours to signal. A zombie (killed, not yet reaped) is dead.
    """
    parts = name.split(".", 4)
    if len(parts) == 5 and parts[4] != HOST:
        return True
    try:
        pid = int(parts[2])
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (ValueError, IndexError, OSError):
        return True
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            return f.read().rpartition(b")")[2].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def _load_intent(path):
    with open(path, "rb") as f:
        return json.loads(f.read())


class _Lock:
    """filelock with a timeout that ends as an ArtdaqDBError naming the lock file."""

    def __init__(self, db, path):
        self.db, self.path, self.lock = db, path, filelock.FileLock(path, timeout=LOCK_TIMEOUT)

    def __enter__(self):
        try:
            self.lock.acquire(poll_interval=POLL)
        except filelock.Timeout:
            raise self.db.error("lock held by another process for %ds" % LOCK_TIMEOUT, file=self.path) from None
        return self

    def __exit__(self, *exc):
        self.lock.release()
