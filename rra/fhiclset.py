"""A run's FHiCL set on disk: the files plus a manifest, swapped in all at once.

The manifest is the stage's one doit target: it exists only inside a complete
set, so an interrupted write never leaves something doit calls up to date.
"""
import hashlib
import json
import logging
from pathlib import Path

from . import atomic
from .fhiclize import fhiclize_run

MANIFEST = "manifest.json"

log = logging.getLogger("rra.fhiclset")


def manifest_path(fhicl_dir):
    return Path(fhicl_dir) / MANIFEST


def build(run, run_dir, fhicl_dir, enabled):
    """Fhiclize one run record into fhicl_dir, atomically; returns the manifest."""
    result = fhiclize_run(Path(run_dir), enabled)
    for warning in result.warnings:
        log.warning("[run %s] [fhiclize] %s", run, warning)
    manifest = {
        "run": int(run),
        "config_name": result.config_name,
        "files": {name: hashlib.md5(data).hexdigest() for name, data in result.files.items()},
        "warnings": list(result.warnings),
    }
    files = dict(result.files)
    files[MANIFEST] = (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode()
    atomic.clean_leftovers(fhicl_dir)
    atomic.replace_dir(fhicl_dir, files)
    return manifest


def read(fhicl_dir):
    """The manifest of a built set, and {name: bytes} of its FHiCL files."""
    fhicl_dir = Path(fhicl_dir)
    manifest = json.loads(manifest_path(fhicl_dir).read_text())
    files = {name: (fhicl_dir / name).read_bytes() for name in manifest["files"]}
    return manifest, files
