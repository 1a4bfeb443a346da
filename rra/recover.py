"""`rra recover`: rebuild the targets and doit's state from what artdaqDB and UconDB hold.

For when the work dir was lost or a database was changed by hand. Every
target recover writes is one it verified against the databases; everything
else is removed, so the next `doit` does exactly the missing work. Nothing is
ever uploaded or stored here.
"""
import logging
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import tempfile

from . import connect, fhiclset, importing, migrating
from .discovery import configure, scan
from .layout import Layout

log = logging.getLogger("rra")
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Outcome:
    imported: list = field(default_factory=list)     # artdaqDB holds exactly the FHiCL set
    migrated: list = field(default_factory=list)     # UconDB holds the blob (or its legacy twin)
    to_import: list = field(default_factory=list)    # left for doit
    to_migrate: list = field(default_factory=list)
    failed: list = field(default_factory=list)       # (run, message)


def recover(cfg, stage="all", dry_run=False):
    """Check every run on disk against the databases; write the targets that hold."""
    layout = Layout(cfg.work_dir)
    out = Outcome()
    with tempfile.TemporaryDirectory(prefix=".recover.", dir=_mkdir(layout.work_dir)) as tmp:
        configure(cfg)
        for rec in scan(cfg.run_records_dir):
            if rec.error:
                out.failed.append((rec.run, rec.error))
                continue
            try:
                _recover_run(cfg, layout, rec, stage, Path(tmp) if dry_run else None, out)
            except Exception as e:  # one run's problem never stops the others
                from .actions import describe, expected_errors
                if not isinstance(e, expected_errors() + (ValueError,)):
                    raise
                out.failed.append((rec.run, describe(e)))
    if not dry_run:
        names = ["%s:%d" % (s, r) for r in out.imported for s in ("fhiclize", "artdaqdb")]
        names += ["%s:%d" % (s, r) for r in out.migrated for s in ("blob", "ucondb", "validate")]
        reset_dep(cfg, names)
    return out


def _recover_run(cfg, layout, rec, stage, scratch, out):
    """Verify one run; scratch (dry run) keeps every write out of the work dir."""
    run = rec.run
    fhicl_dir = (scratch / str(run)) if scratch else layout.fhicl_dir(run)
    fhiclset.build(run, rec.path, fhicl_dir, cfg["fhiclize_generate"])
    state = importing.matches(cfg, run, fhicl_dir)
    if state is None:
        out.to_import.append(run)
        if not scratch:
            _remove(layout.artdaqdb_marker(run), layout.blob(run), layout.ucondb_marker(run),
                    layout.validated(run))
        return
    out.imported.append(run)
    if stage == "import":
        return
    marker = (scratch / ("%d.artdaqdb.json" % run)) if scratch else layout.artdaqdb_marker(run)
    blob_path = (scratch / ("%d.blob" % run)) if scratch else layout.blob(run)
    importing.write_marker(cfg, state, importing.entity_md5s(fhiclset.read_manifest(fhicl_dir)),
                           marker)
    migrating.pack(cfg, run, marker, blob_path)
    found = migrating.adoptable(connect.ucondb(cfg), run, blob_path.read_bytes())
    if found is None or found[2]:
        out.to_migrate.append(run)
        if not scratch:
            _remove(layout.ucondb_marker(run), layout.validated(run))
        return
    out.migrated.append(run)
    if scratch:
        return
    meta, stored_md5, _ = found
    migrating.write_marker(cfg, run, meta, stored_md5, True, layout.ucondb_marker(run))
    migrating.validate(cfg, run, layout.blob(run), layout.ucondb_marker(run),
                       layout.validated(run), signature=rec.signature)


def _mkdir(path):
    Path(path).mkdir(parents=True, exist_ok=True)
    return path


def _remove(*paths):
    for path in paths:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def reset_dep(cfg, names, chunk=2000):
    """Make doit record the verified tasks as built (`doit reset-dep`), as the lock holder's child."""
    env = dict(os.environ, RRA_LOCK_PARENT=str(os.getpid()))
    for i in range(0, len(names), chunk):
        cmd = [sys.executable, "-m", "doit", "-f", str(ROOT / "dodo.py"), "reset-dep",
               *names[i:i + chunk], "config=%s" % Path(cfg.path).resolve()]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=str(ROOT))
        if proc.returncode != 0:
            raise OSError("doit reset-dep could not record the recovered targets in %s: %s"
                          % (Layout(cfg.work_dir).dep_file, (proc.stderr or proc.stdout).strip()))
