"""artdaqdb:R — the run's FHiCL set -> artdaqDB (what changed, as a new version) -> its marker."""

import contextlib
import logging
import os
import time

from .. import fhiclset, markers
from ..actions import run_step
from ..discovery import signature
from ..errors import EXPECTED
from ..urls import redact

NAME = "artdaqdb"
TITLE = "in artdaqDB"
DOC = "store every run's FHiCL set in artdaqDB"
UCONDB = False  # its action reads or writes UconDB (the pre-flight asks UconDB first)

log = logging.getLogger("rra")
LOCK_TIMEOUT = 3600  # seconds a task waits for another task's store of its batch
STARTED = time.time()  # this invocation's start (dodo.py imports this before doit forks workers)


def target(layout, run):
    return layout.artdaqdb_marker(run)


def task(archive, rec):
    return {
        "actions": [(run_step, [NAME, rec.run, store, archive, rec.run, rec.batch.runs, rec.batch.dirs])],
        "file_dep": [str(archive.layout.fhicl_manifest(rec.run))],
        "targets": [str(target(archive.layout, rec.run))],
    }


def store(archive, run, batch=(), record_dirs=None):
    """Store what changed in the run's FHiCL set; the marker follows the durable documents.

    A filesystem artdaqDB rewrites a collection's whole index.json per store, so
    the cost grows with the archive. batch names other runs of this invocation:
    those whose FHiCL set is ready and not yet stored go into the same store
    call (one index write for all) and get their markers too. One task of a batch
    stores at a time: with -n 8 the partners' tasks start together, wait, and
    then find their work done instead of each looking all its partners up again.
    """
    layout = archive.layout
    marker_path = layout.artdaqdb_marker(run)
    with _claim(layout, batch or (run,)):
        if current(archive, marker_path, fhiclset.read_manifest(layout.fhicl_dir(run))):
            _say_current(run, marker_path)
            return
        _store(archive, run, batch, record_dirs)


def _say_current(run, marker_path):
    """What a task whose marker is already current did: nothing, or a partner stored the run."""
    try:
        marker = markers.read(marker_path)
        by_partner = os.stat(marker_path).st_mtime >= STARTED
    except (OSError, ValueError):
        return
    if by_partner:
        log.info(
            "[run %s] [artdaqdb] stored as %s by another task of its batch (one index write)",
            run,
            marker.get("version"),
        )
    else:
        log.info(
            "[run %s] [artdaqdb] nothing stored: artdaqDB already holds this FHiCL set as %s (stored %s)",
            run,
            marker.get("version"),
            marker.get("stored_at"),
        )


@contextlib.contextmanager
def _claim(layout, batch):
    """Held while one task stores its batch: the partners wait, then find their markers written."""
    import filelock

    path = layout.batch_lock(min(batch))
    path.parent.mkdir(exist_ok=True)
    with filelock.FileLock(str(path), timeout=LOCK_TIMEOUT).acquire(poll_interval=0.01):
        yield


def _store(archive, run, batch, record_dirs):
    layout = archive.layout
    db = archive.artdaqdb()  # opening it also sweeps what a killed writer left
    manifest, files = fhiclset.read(layout.fhicl_dir(run))
    todo = [(run, manifest["config_name"], files, layout.artdaqdb_marker(run))]
    for other in batch:
        if (
            other != run
            and record_dirs
            and ready(layout, other, record_dirs[other])
            and not os.path.exists(layout.failure(other, NAME))
        ):
            try:
                m, f = fhiclset.read(layout.fhicl_dir(other))
            except (fhiclset.DamagedSet, OSError):
                continue  # its own task will say so
            todo.append((other, m["config_name"], f, layout.artdaqdb_marker(other)))
    todo, results = _store_many(db, run, todo)
    written = []  # (marker path, fields): written together, once the documents are durable
    for (r, _, _, marker), result in zip(todo, results):
        if result.kept:
            log.warning(
                "[run %s] [artdaqdb] %s no longer in the run record: artdaqDB keeps the archived "
                "version, so the export and the blob still hold it (as the C++ tools and the "
                "legacy archiver do)",
                r,
                ", ".join("%s.fcl" % e for e in result.kept),
            )
        if not result.changed and r != run:
            continue  # a partner with nothing new: its own task checks its marker
        state = db.latest(r)
        if result.changed:
            log.info("[run %s] [artdaqdb] stored %s: %s", r, result.version, ", ".join(result.stored))
        else:
            log.info(
                "[run %s] [artdaqdb] nothing stored: artdaqDB already holds this FHiCL set as %s", r, state.version
            )
        written.append((marker, marker_fields(archive, state, result.md5)))
    markers.write_many(written)


def _store_many(db, run, todo):
    """(todo, results) of store_many, leaving out a partner that fails and trying again.

    A partner's problem is for its own task to report. Falling back to this run alone
    would leave every other partner to store on its own: one index rewrite each, which
    is what batches are there to avoid.
    """
    from ..shutdown import stopping

    while True:
        try:
            results = {r.run: r for r in db.store_many([(r, c, f) for r, c, f, _ in todo], stop=stopping)}
            todo = [t for t in todo if t[0] in results]  # after a Ctrl-C: the runs stored so far
            return todo, [results[t[0]] for t in todo]
        except Exception as e:
            if len(todo) == 1 or not isinstance(e, EXPECTED):
                raise
            bad = getattr(e, "run", None)
            if bad == run:
                raise
            if bad in {r for r, _, _, _ in todo}:
                todo = [t for t in todo if t[0] != bad]
            else:
                todo = todo[:1]  # nobody's in particular (disk full...): this run alone


def ready(layout, run, record_dir):
    """Cheap test (stats only) that a batch partner's set is fresh and not yet stored."""
    try:
        built = os.stat(layout.fhicl_manifest(run)).st_mtime_ns
        if built < signature(record_dir):
            return False  # its fhiclize has not run on the record as it is now
        return os.stat(layout.artdaqdb_marker(run)).st_mtime_ns < built
    except FileNotFoundError:
        return os.path.exists(layout.fhicl_manifest(run))
    except OSError:
        return False


def current(archive, marker_path, manifest):
    """The marker already says this FHiCL set (by its manifest) is stored in this database."""
    try:
        marker = markers.read(marker_path)
    except (OSError, ValueError):
        return False
    return marker.get("database_uri") == redact(archive.artdaq.uri) and marker.get("entities") == entity_md5s(manifest)


def entity_md5s(manifest):
    """entity -> md5 of a FHiCL set from its manifest, as artdaqDB's fhicl_md5s gives it."""
    from ..artdaqdb import entity_of

    return {entity_of(name): md5 for name, md5 in sorted(manifest["files"].items()) if entity_of(name) != "schema"}


def matches(archive, run, fhicl_dir):
    """The run's artdaqDB state if it holds this FHiCL set (for recover), else None.

    Entities the set no longer has are kept by artdaqDB (a file removed from the record):
    they do not make a difference.
    """
    state = archive.artdaqdb().latest(run)
    if state is None:
        return None
    want = entity_md5s(fhiclset.read_manifest(fhicl_dir))
    return state if {e: state.md5.get(e) for e in want} == want else None


def write_marker(archive, state, md5s, marker_path):
    markers.write(marker_path, marker_fields(archive, state, md5s))


def marker_fields(archive, state, md5s):
    return {
        "database_uri": redact(archive.artdaq.uri),
        "configuration": state.configuration,
        "version": state.version,
        "stored_at": state.stored_at,
        "entities": md5s,
    }
