"""The migrate stage's actions: export and pack the blob, upload it, validate it."""
import hashlib
import logging
import os
from contextlib import contextmanager
from pathlib import Path

from . import atomic, blob, breaker, connect, markers
from .discovery import seal
from .errors import RraError
from .urls import redact

log = logging.getLogger("rra")


class ValidationError(RraError):
    """The archived blob is not what was uploaded: says which numbers differ."""


def pack(cfg, run, artdaqdb_marker, blob_path):
    """Export the run and pack it; Packed on is the newest version's stored-at time."""
    marker = markers.read(artdaqdb_marker)
    files = connect.artdaqdb(cfg).exported(run)
    from .artdaqdb import parse_timestamp
    data = blob.pack(run, files, parse_timestamp(marker["stored_at"]))
    atomic.write_bytes(blob_path, data)


def upload(cfg, run, blob_path, marker_path):
    """Put the blob under key=run unless UconDB already holds the same content.

    What UconDB holds comes from the invocation's one /versions listing when there is
    one: a key it does not list is POSTed at once (one request), a listed key with the
    same size and adler32 is adopted without a request, and only a listed key that
    differs is downloaded to compare. A refusal or an outage trips the breaker.
    """
    data = Path(blob_path).read_bytes()
    with guarded(cfg):
        meta, stored_md5, adopted, replaced = put_or_adopt(
            connect.ucondb(cfg), run, data, connect.listed(cfg), differences, "ucondb")
    write_marker(cfg, run, meta, stored_md5, adopted, marker_path, replaced)


def put_or_adopt(db, run, data, listed, compare, stage):
    """(meta, MD5 of what the key holds, adopted, replaced) once key=run holds data's content.

    listed: the invocation's {key: Meta} (None: ask). compare(stored, ours) lists what
    differs; nothing differing means adopt, something means a new version by override,
    and replaced is then (old version id, what differed).
    """
    from .ucondb import KeyExists
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
            log.info("[run %s] [%s] already stored as version %s%s: nothing uploaded", run, stage,
                     meta.version_id, "" if exact else " (%s)" % (
                         "differs only in Packed on/hashes.fcl" if compare is differences else "the same files"))
            return meta, stored_md5, True, None
        replaced = (meta.version_id, differ)
        meta = db.put(key, data, tags=[key], override=True)
        log.info("[run %s] [%s] replaced version %s by %s (override); differing: %s",
                 run, stage, replaced[0], meta.version_id, ", ".join(differ))
    else:
        meta = db.put(key, data, tags=[key])
        log.info("[run %s] [%s] uploaded version %s", run, stage, meta.version_id)
    return meta, hashlib.md5(data).hexdigest(), False, replaced


@contextmanager
def guarded(cfg):
    """Hold this stage back if UconDB already refused or failed this invocation; trip on the first."""
    from .ucondb import UconDBAuthError, UconDBConnectionError, UconDBTLSError
    breaker.check(cfg.work_dir)
    try:
        yield
    except (UconDBAuthError, UconDBConnectionError) as e:
        # a refusal or a server that cannot be reached is the same for every run; a broken
        # connection or a late answer may be one run's bad luck, so only those runs fail
        if not isinstance(e, UconDBConnectionError) or e.unreachable or isinstance(e, UconDBTLSError):
            breaker.trip(cfg.work_dir, e)
        raise


def adler32(data):
    """UconDB's integrity number (the server computes no MD5)."""
    from .ucondb.meta import adler32
    return adler32(data)


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
    if meta.size == len(data) and meta.adler32 == adler32(data):
        return meta, hashlib.md5(data).hexdigest(), [], True
    stored, meta = db.get(key)
    return meta, hashlib.md5(stored).hexdigest(), (compare or differences)(stored, data), False


def write_marker(cfg, run, meta, stored_md5, adopted, marker_path, replaced=None):
    """replaced: (old version id, differing sections) when the upload overrode another version."""
    fields = {
        "server_url": redact(cfg["ucon_db.server_url"]),
        "folder": cfg["ucon_db.folder_name"], "object": cfg["ucon_db.object_name"],
        "key": str(run), "version_id": meta.version_id, "size": meta.size,
        "adler32": meta.adler32, "md5": stored_md5, "adopted": adopted, "time": markers.now(),
    }
    if replaced:
        fields.update(replaced=replaced[0], differing=list(replaced[1]))
    markers.write(marker_path, fields)


def validate(cfg, run, blob_path, ucondb_marker, validated_path, content_checks=False,
             signature=None):
    """Download the key and prove it is what the marker promised and what the blob holds.

    The validation record is then sealed with the record's signature taken when
    this invocation found the run, so later ones skip it until it changes.
    """
    try:
        os.unlink(validated_path)  # a failed validation must leave the run unsealed
    except FileNotFoundError:
        pass
    local = Path(blob_path).read_bytes()
    marker = markers.read(ucondb_marker)
    with guarded(cfg):
        data, meta = connect.ucondb(cfg).get(str(run))
    got_md5 = hashlib.md5(data).hexdigest()
    problems = []
    if str(meta.version_id) != str(marker["version_id"]):
        problems.append("key %s points at version %s, uploaded %s"
                        % (run, meta.version_id, marker["version_id"]))
    if len(data) != meta.size or adler32(data) != meta.adler32:
        problems.append("downloaded %d bytes adler32 %d, server says %d bytes adler32 %d"
                        % (len(data), adler32(data), meta.size, meta.adler32))
    if got_md5 != marker["md5"]:
        problems.append("downloaded MD5 %s, uploaded MD5 %s" % (got_md5, marker["md5"]))
    differ = differences(data, local)
    if differ:
        problems.append("content differs from blob.txt in %s" % ", ".join(differ))
    if content_checks and not problems:
        problems += content_problems(run, data)
    if problems:
        raise ValidationError("UconDB %s/%s key %s: %s" % (
            marker["folder"], marker["object"], run, "; ".join(problems)))
    atomic.write_text(validated_path, "%s  blob.txt\nversion_id %s\n" % (got_md5, meta.version_id))
    if signature is not None:
        seal(validated_path, signature)


def differences(stored, ours):
    """File sections that differ, ignoring Packed on and hashes.fcl; a non-blob differs whole."""
    if stored == ours:
        return []
    try:
        return blob.same_content(stored, ours)[1]
    except ValueError as e:
        return ["the whole blob (%s)" % e]


def content_problems(run, data):
    """The legacy content checks: config name, components and package versions in metadata.fcl."""
    try:
        files = blob.unpack(data)[2]
    except ValueError as e:
        return [str(e)]
    meta = files.get("metadata.fcl")
    if meta is None:
        return ["no metadata.fcl section"]
    problems = []
    if "config_name" not in meta:
        problems.append("metadata.fcl has no config_name")
    if "components" not in meta:
        problems.append("metadata.fcl lists no components")
    if "_commit_or_version" not in meta:
        problems.append("metadata.fcl has no package version")
    return problems
