"""files:R — every file of the run record, as written -> UconDB's files object, validated -> marker.

Beside the configuration blob (what artdaq_database keeps), `ucon_db.files_object` holds
the originals (rra.runfiles): comments, layout, logs, JSON, editor backups. Same rules as
the blob: adopted when UconDB holds the same files, a new version (override) when the
record changed, downloaded and checked after every upload. The marker lists what was
read (name, size, mtime): the stage is up to date exactly while the record still is,
so a file that changes while it is read is archived again on the next tick.
"""

import hashlib
import logging
import os

from .. import markers, runfiles
from ..actions import run_step
from ..discovery import seal
from .ucondb import adoptable, guarded, put_or_adopt

NAME = "files"
TITLE = "record files kept"
DOC = "archive every run record's files as written (ucon_db.files_object)"
UCONDB = True  # its action reads or writes UconDB (the pre-flight asks UconDB first)

log = logging.getLogger("rra")


class FilesValidationError(runfiles.RunFilesError):
    """The files object does not hold what was uploaded: says what differs."""


def target(layout, run):
    """What UconDB's files object holds for the run, validated."""
    return layout.files_marker(run)


def task(archive, rec):
    """Up to date while the marker lists the record's files as they are now (no file_dep)."""
    marker = str(target(archive.layout, rec.run))
    return {
        "actions": [(run_step, [NAME, rec.run, keep, archive, rec.run, str(rec.path), rec.signature])],
        "uptodate": [(current, [str(rec.path), marker])],
        "meta": {"seal": (marker, rec.signature)},
        "targets": [marker],
    }


def keep(archive, run, record_dir, signature=None):
    """Pack the record, make key=run of the files object hold it, prove it, write the marker."""
    obj = archive.ucon.files_object
    marker_path = target(archive.layout, run)
    paths, seen = _read_plan(record_dir)
    data = runfiles.pack(run, paths)
    if _stats(paths) != seen:
        raise runfiles.RunFilesError(
            "run %s: the record changed while it was read; archived on the next invocation" % run
        )
    with guarded(archive):
        db = archive.ucondb(obj)
        meta, stored_md5, adopted, _ = put_or_adopt(db, run, data, archive.listed(obj), _differing_files, NAME)
        got, got_meta = db.get(str(run))  # the proof: what the key holds now
    problems = []
    if got_meta.version_id != meta.version_id:
        problems.append("key %s points at version %s, uploaded %s" % (run, got_meta.version_id, meta.version_id))
    if not got_meta.matches(got):
        problems.append("downloaded %d bytes do not match the server's size and adler32" % len(got))
    if hashlib.md5(got).hexdigest() != stored_md5:
        problems.append("downloaded MD5 %s, expected %s" % (hashlib.md5(got).hexdigest(), stored_md5))
    differ = _differing_files(got, data)
    if differ:
        problems.append("files differ from the record: %s" % ", ".join(differ))
    if problems:
        raise FilesValidationError("UconDB %s/%s key %s: %s" % (archive.ucon.folder, obj, run, "; ".join(problems)))
    _mark(marker_path, obj, run, got_meta, stored_md5, adopted, paths, seen, signature)


def recover(archive, run, record_dir, signature=None):
    """rra recover: write the marker if the files object already holds this record's files; never uploads."""
    obj = archive.ucon.files_object
    marker_path = target(archive.layout, run)
    paths, seen = _read_plan(record_dir)
    data = runfiles.pack(run, paths)
    found = adoptable(archive.ucondb(obj), run, data, archive.listed(obj), _differing_files)
    if found is None or found[2]:
        return False
    meta, stored_md5, _, _ = found
    _mark(marker_path, obj, run, meta, stored_md5, True, paths, seen, signature)
    return True


def _mark(marker_path, obj, run, meta, md5, adopted, paths, seen, signature):
    """files.json: what the object holds, and the (size, mtime) of each file it was made from."""
    markers.write(
        marker_path,
        {
            "object": obj,
            "key": str(run),
            "version_id": meta.version_id,
            "size": meta.size,
            "adler32": meta.adler32,
            "md5": md5,
            "adopted": adopted,
            "time": markers.now(),
            "files": {os.path.basename(p): list(st) for p, st in zip(paths, seen)},
        },
    )
    if signature is not None:
        seal(marker_path, signature)


def _read_plan(record_dir):
    """The record's regular files (as discovery lists them) and their (size, mtime_ns) now."""
    paths = sorted(e.path for e in os.scandir(record_dir) if e.is_file(follow_symlinks=False))
    return paths, _stats(paths)


def _stats(paths):
    out = []
    for p in paths:
        st = os.stat(p, follow_symlinks=False)
        out.append((st.st_size, st.st_mtime_ns))
    return out


def current(record_dir, marker_path):
    """doit's up-to-date check: the marker lists exactly the record's files, unchanged (stats only)."""
    try:
        listed = markers.read(marker_path)["files"]
        paths, seen = _read_plan(record_dir)
    except (OSError, ValueError, KeyError):
        return False
    return {os.path.basename(p): list(st) for p, st in zip(paths, seen)} == listed


def _differing_files(stored, ours):
    """Names of the files two archives disagree on (all of them if one is unreadable)."""
    try:
        a, b = runfiles.unpack(stored)[1], runfiles.unpack(ours)[1]
    except runfiles.RunFilesError as e:
        return ["the whole archive (%s)" % e]
    return sorted(n for n in set(a) | set(b) if a.get(n) != b.get(n))
