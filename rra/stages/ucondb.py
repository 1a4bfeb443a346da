"""ucondb:R — the blob -> UconDB under key=run (adopted if already there) -> its marker.

put_or_adopt, adoptable and guarded are shared with the files stage, which stores the
record's files in another object of the same folder by the same rules.
"""

import hashlib
import logging
from contextlib import contextmanager
from pathlib import Path

from .. import blob, breaker, markers
from ..actions import run_step
from ..urls import redact

NAME = "ucondb"
TITLE = "in UconDB"
DOC = "upload every run's blob to UconDB"
UCONDB = True  # its action reads or writes UconDB (the pre-flight asks UconDB first)

log = logging.getLogger("rra")


def target(layout, run):
    return layout.ucondb_marker(run)


def task(archive, rec):
    return {
        "actions": [(run_step, [NAME, rec.run, upload, archive, rec.run])],
        "file_dep": [str(archive.layout.blob(rec.run))],
        "targets": [str(target(archive.layout, rec.run))],
    }


def upload(archive, run):
    """Put the blob under key=run unless UconDB already holds the same content.

    What UconDB holds comes from the invocation's one /versions listing when there is
    one: a key it does not list is POSTed at once (one request), a listed key with the
    same size and adler32 is adopted without a request, and only a listed key that
    differs is downloaded to compare. A refusal or an outage trips the breaker.
    """
    data = Path(archive.layout.blob(run)).read_bytes()
    with guarded(archive):
        meta, stored_md5, adopted, replaced = put_or_adopt(
            archive.ucondb(), run, data, archive.listed(), blob.differences, NAME
        )
    write_marker(archive, run, meta, stored_md5, adopted, replaced)


def put_or_adopt(db, run, data, listed, compare, stage):
    """(meta, MD5 of what the key holds, adopted, replaced) once key=run holds data's content.

    listed: the invocation's {key: Meta} (None: ask). compare(stored, ours) lists what
    differs; nothing differing means adopt, something means a new version by override,
    and replaced is then (old version id, what differed).
    """
    from ..ucondb import KeyExists

    key = str(run)
    if listed is not None and key not in listed:
        try:
            meta = db.put(key, data, tags=[key])
        except KeyExists:
            listed = None  # stored since the listing was taken: look at it as below
        else:
            log.info("[run %s] [%s] uploaded version %s", run, stage, meta.version_id)
            return meta, hashlib.md5(data).hexdigest(), False, None
    found = adoptable(db, run, data, listed, compare)
    replaced = None
    if found is not None:
        meta, stored_md5, differ, exact = found
        if not differ:
            log.info(
                "[run %s] [%s] already stored as version %s%s: nothing uploaded",
                run,
                stage,
                meta.version_id,
                ""
                if exact
                else " (%s)"
                % ("differs only in Packed on/hashes.fcl" if compare is blob.differences else "the same files"),
            )
            return meta, stored_md5, True, None
        replaced = (meta.version_id, differ)
        meta = db.put(key, data, tags=[key], override=True)
        log.info(
            "[run %s] [%s] replaced version %s by %s (override); differing: %s",
            run,
            stage,
            replaced[0],
            meta.version_id,
            ", ".join(differ),
        )
    else:
        meta = db.put(key, data, tags=[key])
        log.info("[run %s] [%s] uploaded version %s", run, stage, meta.version_id)
    return meta, hashlib.md5(data).hexdigest(), False, replaced


@contextmanager
def guarded(archive):
    """Hold this stage back if UconDB already refused or failed this invocation; trip on the first."""
    from ..ucondb import UconDBAuthError, UconDBConnectionError, UconDBTLSError

    breaker.check(archive.work_dir)
    try:
        yield
    except (UconDBAuthError, UconDBConnectionError) as e:
        # a refusal or a server that cannot be reached is the same for every run; a broken
        # connection or a late answer may be one run's bad luck, so only those runs fail
        if not isinstance(e, UconDBConnectionError) or e.unreachable or isinstance(e, UconDBTLSError):
            breaker.trip(archive.work_dir, e)
        raise


def adoptable(db, run, data, listed=None, compare=None):
    """(meta, its MD5, differing sections, same bytes) of what key=run holds now; None if nothing.

    Same size and adler32, or nothing that compare (default: the blob's sections apart
    from Packed on and hashes.fcl, as a legacy upload differs) finds different, means no
    differing sections: adopt it. listed: the invocation's listing ({key: Meta}),
    consulted instead of asking. It only looks (rra recover --dry-run asks too): the
    caller says what it did.
    """
    key = str(run)
    meta = listed.get(key) if listed is not None else db.meta(key)
    if meta is None:
        return None
    if meta.matches(data):
        return meta, hashlib.md5(data).hexdigest(), [], True
    stored, meta = db.get(key)
    return meta, hashlib.md5(stored).hexdigest(), (compare or blob.differences)(stored, data), False


def write_marker(archive, run, meta, stored_md5, adopted, replaced=None, marker_path=None):
    """replaced: (old version id, differing sections) when the upload overrode another version."""
    u = archive.ucon
    fields = {
        "server_url": redact(u.url),
        "folder": u.folder,
        "object": u.object,
        "key": str(run),
        "version_id": meta.version_id,
        "size": meta.size,
        "adler32": meta.adler32,
        "md5": stored_md5,
        "adopted": adopted,
        "time": markers.now(),
    }
    if replaced:
        fields.update(replaced=replaced[0], differing=list(replaced[1]))
    markers.write(marker_path or archive.layout.ucondb_marker(run), fields)
