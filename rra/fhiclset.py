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
from pathlib import Path

from . import atomic

MANIFEST = "manifest.json"

log = logging.getLogger("rra.fhiclset")


def manifest_path(fhicl_dir):
    return Path(fhicl_dir) / MANIFEST


def build(run, run_dir, fhicl_dir, enabled):
    """Fhiclize one run record into fhicl_dir, atomically; returns the manifest."""
    from .fhiclize import fhiclize_run  # only when a run is built, not on every task load
    result = fhiclize_run(Path(run_dir), enabled)
    for warning in result.warnings:
        log.warning("[run %s] [fhiclize] %s", run, warning)
    if result.unconverted:  # artdaq_database never sees them; the files object keeps them, if set
        log.info("[run %s] [fhiclize] not FHiCL, not in artdaqDB or the blob: %s", run,
                 ", ".join(result.unconverted))
    manifest = {
        "run": int(run),
        "config_name": result.config_name,
        "files": {name: hashlib.md5(data).hexdigest() for name, data in result.files.items()},
        "warnings": list(result.warnings),
    }
    files = dict(result.files)
    files[MANIFEST] = (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode()
    atomic.clean_leftovers(fhicl_dir)
    atomic.replace_dir(fhicl_dir, files, durable=False)
    return manifest


class DamagedSet(Exception):
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
        raise DamagedSet("FHiCL set %s was damaged (%s differ from the manifest, e.g. after a "
                         "crash); removed, the next run of doit rebuilds it"
                         % (fhicl_dir, ", ".join(bad)))
    return manifest, files
