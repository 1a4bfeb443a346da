"""`rra restore` and `rra diff`: a run record back from UconDB alone, and what changed between versions.

Neither needs the work dir or the run records: an archive must be readable after both
are gone. With `ucon_db.files_object` the record comes back byte for byte, with its
modes and mtimes; without it, only the FHiCL that artdaq_database exports can.
"""

import difflib
import os

from . import atomic, blob, runfiles


class RestoreError(runfiles.RunFilesError):
    """A restore or diff that cannot be done as asked: says why and what to do."""


def restore(archive, run, out_dir, version=None):
    """Rebuild run's record in out_dir (empty or absent); returns the lines to tell the user."""
    if os.path.isdir(out_dir) and os.listdir(out_dir):
        raise RestoreError("%s is not empty: restore writes into an empty directory only" % out_dir)
    obj = archive.ucon.files_object
    if not obj:
        return _restore_export(archive, run, out_dir, version)
    db = archive.ucondb(obj)
    data, meta = db.get(str(run)) if version is None else db.get_version(version)
    try:
        number, names = runfiles.restore(data, out_dir)
    except runfiles.RunFilesError as e:
        raise RestoreError("UconDB %s/%s version %s: %s" % (archive.ucon.folder, obj, meta.version_id, e)) from None
    if number != int(run):
        raise RestoreError("version %s holds run %s, not run %s" % (meta.version_id, number, run))
    return [
        "restored run %s into %s from UconDB %s/%s version %s: %d files, every MD5, size, mode and "
        "mtime checked against the archive's manifest"
        % (run, out_dir, archive.ucon.folder, obj, meta.version_id, len(names))
    ]


def _restore_export(archive, run, out_dir, version):
    if version is not None:
        raise RestoreError("--version reads ucon_db.files_object, which is not set in this config")
    files = archive.artdaqdb().exported(run)
    os.makedirs(out_dir, exist_ok=True)
    for name, text in sorted(files.items()):
        atomic.write_bytes(os.path.join(out_dir, name), text.encode("utf-8", "surrogateescape"))
    return [
        "restored run %s into %s from artdaqDB: %d FHiCL files as artdaq_database exports them"
        % (run, out_dir, len(files)),
        "missing: ucon_db.files_object is not set, so the run record as written was never archived: "
        "comments and layout of its .fcl files, the .txt files (only their FHiCL conversions are "
        "here), and every file that is not FHiCL (logs, JSON, ...) are not in this restore",
    ]


def versions_of(archive, run, source):
    """Versions (newest first) that were stored for run: by tag, so overridden ones count too."""
    obj = archive.ucon.files_object if source == "files" else archive.ucon.object
    if source == "files" and not obj:
        raise RestoreError("ucon_db.files_object is not set: use --blob to compare the configuration blobs")
    db = archive.ucondb(obj)
    return db, [m for m in db.versions() if str(run) in m.tags or m.key == str(run)]


def diff(archive, run, old=None, new=None, source="files"):
    """Unified diffs, file by file, between two stored versions of run (default: the two newest)."""
    db, found = versions_of(archive, run, source)
    ids = [m.version_id for m in found]
    if new is None or old is None:
        if len(ids) < 2:
            raise RestoreError(
                "run %s has %d stored version%s in %s: nothing to compare"
                % (run, len(ids), "" if len(ids) == 1 else "s", source)
            )
        new = ids[0] if new is None else new
        old = next(i for i in ids if i != new) if old is None else old
    a, b = (_files(db.get_version(v)[0], source) for v in (old, new))
    out = []
    for name in sorted(set(a) | set(b)):
        x, y = a.get(name), b.get(name)
        if x == y:
            continue
        label_a = "run%s@%s/%s" % (run, old, name) if x is not None else "/dev/null"
        label_b = "run%s@%s/%s" % (run, new, name) if y is not None else "/dev/null"
        try:
            ta, tb = ((v or b"").decode("utf-8") for v in (x, y))
        except UnicodeDecodeError:
            out.append("Binary files %s and %s differ\n" % (label_a, label_b))
            continue
        out.extend(difflib.unified_diff(ta.splitlines(True), tb.splitlines(True), label_a, label_b))
        if out and not out[-1].endswith("\n"):
            out[-1] += "\n\\ No newline at end of file\n"
    return old, new, "".join(out)


def _files(data, source):
    if source == "files":
        return {name: body for name, (body, _, _) in runfiles.unpack(data)[1].items()}
    return {name: text.encode("utf-8", "surrogateescape") for name, text in blob.unpack(data)[2].items()}
