"""A run's FHiCL set on disk: the files plus a manifest, swapped in all at once.

The manifest is the stage's one doit target: it exists only inside a complete
set, so an interrupted write never leaves something doit calls up to date.
The set can always be rebuilt from the record, so it is not fsynced; instead
every read checks it against the manifest's MD5s, and a set damaged by a
crash is removed so that the next invocation rebuilds it.
"""

import hashlib
import json
import logging
import os
import time
from pathlib import Path

from . import atomic
from .errors import RraError

MANIFEST = "manifest.json"
STATS = "fhicl.stats.json"  # beside the set: stats of the record files when they were read

log = logging.getLogger("rra.fhiclset")


def manifest_path(fhicl_dir):
    return Path(fhicl_dir) / MANIFEST


def build(run, run_dir, fhicl_dir, enabled, stats_path=None):
    """Fhiclize one run record into fhicl_dir, atomically; returns the manifest.

    The manifest holds the MD5 and size of every record file as it was read
    (sources). stats_path, if given, caches their stats, so that the up-to-date
    check (record_unchanged) hashes only files whose stats moved.
    """
    from .fhiclize import (
        fhiclize_run,  # only when a run is built, not on every task load
    )

    started = time.time_ns()
    result = fhiclize_run(Path(run_dir), enabled)
    for warning in result.warnings:
        log.warning("[run %s] [fhiclize] %s", run, warning)
    if result.unconverted:  # artdaq_database never sees them; the files object keeps them, if set
        log.info("[run %s] [fhiclize] not FHiCL, not in artdaqDB or the blob: %s", run, ", ".join(result.unconverted))
    manifest = {
        "run": int(run),
        "config_name": result.config_name,
        "files": {name: hashlib.md5(data).hexdigest() for name, data in result.files.items()},
        "warnings": list(result.warnings),
        # what was read: the set is current while the record holds exactly these bytes
        "sources": {name: {"md5": f["md5"], "size": f["size"]} for name, f in result.sources.items()},
    }
    files = dict(result.files)
    files[MANIFEST] = (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode()
    atomic.clean_leftovers(fhicl_dir)
    if stats_path:
        atomic.remove(stats_path)
    atomic.replace_dir(fhicl_dir, files, durable=False)
    if stats_path:  # a cache, not fsynced: a damaged one only costs the MD5s it would save
        tmp = "%s.%d.tmp" % (stats_path, os.getpid())
        st = os.stat(manifest_path(fhicl_dir))  # binds the cache to this very manifest
        cache = {
            "manifest": [st.st_size, st.st_mtime_ns, st.st_ino],
            "read_at_ns": started,
            "files": {name: [f["md5"], f["size"], f["mtime_ns"]] for name, f in result.sources.items()},
        }
        with open(tmp, "w") as f:
            json.dump(cache, f)
        os.replace(tmp, stats_path)
    return manifest


# A file whose mtime is this close to the read may have changed in the same clock tick
# without its mtime showing it (git's "racy" case): its MD5 decides.
RACY_NS = 2 * 10**9


def record_unchanged(fhicl_dir, run_dir, stats_path=None):
    """doit uptodate for fhiclize:R: the record still holds the bytes the set was made from.

    doit takes a file_dep's MD5 after the action, so a stop time appended while the
    record was read would count as seen; the manifest's MD5s, of the bytes read, do
    not. A file whose stats are those cached before the read (and not racy) is not
    read again; any other is hashed.
    """
    try:
        cached = _stats(stats_path, os.stat(manifest_path(fhicl_dir)))
    except FileNotFoundError:
        return True  # no set: doit finds the target missing
    except OSError:
        return False
    if cached:
        sources, started = cached
    else:  # no usable cache: the manifest says what was read, every file is hashed
        try:
            sources = {n: [f["md5"], f["size"], None] for n, f in read_manifest(fhicl_dir)["sources"].items()}
        except (OSError, ValueError, KeyError, TypeError):
            return False  # damaged, or made before rra kept what it read: made once more
        started = 0
    for name, (md5, size, mtime_ns) in sources.items():
        path = os.path.join(run_dir, name)
        try:
            st = os.stat(path, follow_symlinks=False)
            if st.st_size == size and (st.st_mtime_ns == mtime_ns < started - RACY_NS or _md5(path) == md5):
                continue
        except OSError:
            pass
        log.info(
            "[run %s] [fhiclize] %s changed after it was read: rebuilding the run",
            os.path.basename(os.fspath(run_dir)),
            path,
        )
        return False
    return True


def _stats(stats_path, manifest_stat):
    """({name: [md5, size, mtime_ns]}, read start in ns) cached by build for exactly this
    manifest (same size, mtime and inode); None if unusable."""
    if not stats_path:
        return None
    try:
        with open(stats_path) as f:
            doc = json.load(f)
        st = manifest_stat
        if doc["manifest"] != [st.st_size, st.st_mtime_ns, st.st_ino]:
            return None
        return {n: list(v) for n, v in doc["files"].items()}, int(doc["read_at_ns"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _md5(path):
    md5 = hashlib.md5()
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    try:
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return md5.hexdigest()
            md5.update(chunk)
    finally:
        os.close(fd)


class DamagedSet(RraError):
    """A FHiCL set that does not match its manifest (a crash before the data reached disk)."""


def read_manifest(fhicl_dir):
    return json.loads(manifest_path(fhicl_dir).read_text())


def read(fhicl_dir):
    """The manifest of a built set, and {name: bytes} of its FHiCL files, checked."""
    fhicl_dir = Path(fhicl_dir)
    try:
        manifest = read_manifest(fhicl_dir)
        files = {name: (fhicl_dir / name).read_bytes() for name in manifest["files"]}
        bad = [n for n, data in files.items() if hashlib.md5(data).hexdigest() != manifest["files"][n]]
    except (ValueError, KeyError, TypeError, FileNotFoundError) as e:
        bad = ["%s (%s)" % (MANIFEST, e)]
    if bad:
        try:
            manifest_path(fhicl_dir).unlink()  # makes fhiclize out of date: rebuilt next time
        except OSError:
            pass
        raise DamagedSet(
            "FHiCL set %s was damaged (%s differ from the manifest, e.g. after a "
            "crash); removed, the next run of doit rebuilds it" % (fhicl_dir, ", ".join(bad))
        )
    return manifest, files
