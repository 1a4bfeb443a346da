"""`rra recover`: rebuild the targets and doit's state from what artdaqDB and UconDB hold.

For when the work dir was lost or a database was changed by hand. Every
target recover writes is one it verified against the databases; everything
else is removed, so the next `doit` does exactly the missing work. Nothing is
ever uploaded or stored here.
"""

import contextlib
import logging
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import tempfile

from . import atomic, blob, fhiclset
from .discovery import scan
from .errors import EXPECTED, describe
from .stages import IMPORT, MIGRATE, artdaqdb, files, ucondb, validate
from .stages import blob as blob_stage

log = logging.getLogger("rra")
ROOT = Path(__file__).resolve().parent.parent
# What the legacy archiver's API mode left out of every run (no schema.fcl rule matched them).
LEGACY_DROPPED = {"environment", "ranks", "settings", "setup"}


@dataclass
class Outcome:
    imported: list = field(default_factory=list)  # artdaqDB holds exactly the FHiCL set
    migrated: list = field(default_factory=list)  # UconDB holds the blob (or its legacy twin)
    to_import: list = field(default_factory=list)  # left for doit
    to_migrate: list = field(default_factory=list)
    failed: list = field(default_factory=list)  # (run, message)
    files: list = field(default_factory=list)  # the files object holds the record as it is
    to_files: list = field(default_factory=list)
    plans: dict = field(default_factory=dict)  # run -> Plan: what the next doit will do


@dataclass
class Plan:
    """What the next invocation will do for a run recover left to doit, and why."""

    store: str = None  # None, "first" (not in artdaqDB) or "update" (a new version)
    lacks: tuple = ()  # entities artdaqDB does not have
    changed: tuple = ()  # entities artdaqDB has with other content
    upload: str = None  # None, "upload" (no key), "replace" (override), "compare", "adopt"
    old_version: int = None  # the UconDB version replaced or compared
    differing: tuple = ()  # blob sections that differ (or that the stored version lacks)
    lacking: bool = False  # differing are sections the stored version does not have

    def reason(self):
        """One line, the same for every run in the same situation (runs are grouped by it)."""
        says = []
        if self.store == "first":
            says.append("not in artdaqDB: stored (first version)")
        elif self.store == "update":
            legacy = " (as in every run the legacy archiver stored)" if LEGACY_DROPPED <= set(self.lacks) else ""
            parts = (["lacks " + ", ".join(self.lacks) + legacy] if self.lacks else []) + (
                ["differs in " + ", ".join(self.changed)] if self.changed else []
            )
            says.append("artdaqDB %s: a new version" % "; ".join(parts))
        if self.upload == "upload":
            says.append("UconDB has no such key: uploaded")
        elif self.upload == "replace":
            says.append(
                "UconDB version %s %s: replaced (override)"
                % ("lacks" if self.lacking else "differs in", ", ".join(self.differing))
            )
        elif self.upload == "compare":
            says.append("UconDB version compared again after the store (adopted if the same)")
        elif self.upload == "adopt":
            says.append("UconDB already holds it: adopted")
        return "; ".join(says) or "nothing to change: doit only rebuilds the work dir's targets"


def recover(archive, stage="all", dry_run=False):
    """Check every run on disk against the databases; write the targets that hold."""
    if dry_run:
        with _quiet_log_file():
            return _recover(archive, stage, True)
    return _recover(archive, stage, False)


@contextlib.contextmanager
def _quiet_log_file():
    """A dry run leaves the log file alone (its lines would read as things done)."""
    handlers = [h for h in logging.getLogger("rra").handlers if getattr(h, "_rra", "") == "file"]
    drop = lambda record: False  # noqa: E731
    for h in handlers:
        h.addFilter(drop)
    try:
        yield
    finally:
        for h in handlers:
            h.removeFilter(drop)


def _recover(archive, stage, dry_run):
    layout = archive.layout
    out = Outcome()
    if stage != "import":
        archive.take_listing()  # one request for what UconDB holds, not one per run
        if archive.ucon.files_object:
            archive.take_listing(archive.ucon.files_object)
    with tempfile.TemporaryDirectory(prefix=".recover.", dir=_mkdir(layout.work_dir)) as tmp:
        for rec in scan(archive.records_dir, limits=archive.record_limits):
            if rec.error:
                out.failed.append((rec.run, rec.error))
                continue
            try:
                _recover_run(archive, rec, stage, Path(tmp) if dry_run else None, out)
            except Exception as e:  # one run's problem never stops the others
                if not isinstance(e, EXPECTED + (ValueError,)):
                    raise
                out.failed.append((rec.run, describe(e)))
    if not dry_run:
        names = ["%s:%d" % (s, r) for r in out.imported for s in IMPORT]
        names += ["%s:%d" % (s, r) for r in out.migrated for s in MIGRATE]
        reset_dep(archive, names)
        for run in out.imported:  # what recover verified is no failure any more
            atomic.remove(*(layout.failure(run, s) for s in IMPORT))
        for run in out.migrated:
            atomic.remove(*(layout.failure(run, s) for s in MIGRATE))
    return out


def _recover_run(archive, rec, stage, scratch, out):
    """Verify one run; scratch (dry run) keeps every write out of the work dir."""
    run, layout = rec.run, archive.layout
    fhicl_dir = (scratch / str(run)) if scratch else layout.fhicl_dir(run)
    fhiclset.build(run, rec.path, fhicl_dir, archive.generate)
    state = artdaqdb.matches(archive, run, fhicl_dir)
    if state is None:
        out.plans[run] = _plan_import(archive, run, fhicl_dir, stage)  # may fail: the run's problem
        out.to_import.append(run)
        if not scratch:
            atomic.remove(
                layout.artdaqdb_marker(run),
                layout.blob(run),
                layout.ucondb_marker(run),
                layout.validated(run),
                layout.files_marker(run),
            )
        return
    out.imported.append(run)
    if stage == "import":
        return
    marker = (scratch / ("%d.artdaqdb.json" % run)) if scratch else layout.artdaqdb_marker(run)
    blob_path = (scratch / ("%d.blob" % run)) if scratch else layout.blob(run)
    artdaqdb.write_marker(archive, state, artdaqdb.entity_md5s(fhiclset.read_manifest(fhicl_dir)), marker)
    blob_stage.pack(archive, run, marker, blob_path)
    found = ucondb.adoptable(archive.ucondb(), run, blob_path.read_bytes(), archive.listed())
    if found is None or found[2]:
        out.to_migrate.append(run)
        out.plans[run] = (
            Plan(upload="upload")
            if found is None
            else Plan(upload="replace", old_version=found[0].version_id, differing=tuple(found[2]))
        )
        if not scratch:
            atomic.remove(layout.ucondb_marker(run), layout.validated(run), layout.files_marker(run))
        return
    out.migrated.append(run)
    if scratch:
        return
    meta, stored_md5 = found[:2]
    ucondb.write_marker(archive, run, meta, stored_md5, True)
    validate.validate(archive, run, signature=rec.signature, content_checks=False)
    if archive.ucon.files_object:
        atomic.remove(layout.files_marker(run))
        if files.recover(archive, run, rec.path, rec.signature):
            out.files.append(run)
        else:
            out.to_files.append(run)


def _plan_import(archive, run, fhicl_dir, stage):
    """What storing this FHiCL set will do in artdaqDB, and then to the UconDB key (no writes).

    The artdaqDB part is exact (the store's own plan). The blob is only packed after
    the store, so for UconDB it names the files the stored version lacks: those
    make a replacement certain; otherwise the next upload compares again.
    """
    from .artdaqdb import parse_timestamp, read_files
    from .artdaqdb.runs import plan

    db = archive.artdaqdb()
    manifest, fhicl = fhiclset.read(fhicl_dir)
    texts = read_files(fhicl)
    state = db.latest(run)
    version, todo, _ = plan(
        run,
        "%d/%s" % (run, manifest["config_name"]),
        texts,
        state,
        db.schema[0],
        lambda e, data: db._same(state, e, data),
    )
    out = Plan()
    if version is None:  # the same set (md5s unknown to artdaqDB): nothing stored, then packed
        if stage != "import":
            data = blob.pack(run, db.exported(run), parse_timestamp(state.stored_at))
            found = ucondb.adoptable(archive.ucondb(), run, data)
            if found is None:
                out.upload = "upload"
            else:
                out.upload, out.old_version = ("replace" if found[2] else "adopt"), found[0].version_id
                out.differing = tuple(found[2])
        return out
    stored = [e for e in todo if e not in ("schema", "hashes")]
    if state is None:
        out.store = "first"
    else:
        out.store = "update"
        out.lacks = tuple(sorted(e for e in stored if e not in state.entities))
        out.changed = tuple(sorted(e for e in stored if e in state.entities))
    if stage == "import":
        return out
    ucon = archive.ucondb()
    meta = ucon.meta(str(run))
    if meta is None:
        out.upload = "upload"
        return out
    out.old_version = meta.version_id
    try:
        held = set(blob.unpack(ucon.get(str(run))[0])[2])
    except ValueError:
        held = set()
    missing = tuple(sorted("%s.fcl" % e for e in stored if "%s.fcl" % e not in held))
    out.upload, out.differing, out.lacking = ("replace", missing, True) if missing else ("compare", (), False)
    return out


def summary(out, archive, dry_run=False):
    """Lines for the operator: what was verified, and per group of runs what doit will do."""
    from .report import ranges, spell

    would = "would be " if dry_run else ""
    lines = []
    for title, runs in (
        ("verified in artdaqDB", out.imported),
        ("verified in UconDB", out.migrated),
        ("verified in UconDB's files object", out.files),
    ):
        if runs:
            lines.append("%d runs %s%s: %s" % (len(runs), would, title, spell(ranges(runs), 8)))
    if out.to_files:
        lines.append(
            "%d runs left for doit to archive their files (ucon_db.files_object): %s"
            % (len(out.to_files), spell(ranges(out.to_files), 8))
        )
    left = sorted(set(out.to_import) | set(out.to_migrate))
    if not left:
        return lines
    lines.append(
        "%d runs left for doit (%d to import, %d to migrate); what the next invocation "
        "will do:" % (len(left), len(out.to_import), len(out.to_migrate))
    )
    groups = {}
    for run in left:
        groups.setdefault(out.plans[run].reason(), []).append(run)
    for reason, runs in sorted(groups.items(), key=lambda g: g[1][0]):
        lines.append("  %s (%d run%s): %s" % (spell(ranges(runs)), len(runs), "" if len(runs) == 1 else "s", reason))
    plans = [out.plans[r] for r in left]
    first = sum(p.store == "first" for p in plans)
    updates = sum(p.store == "update" for p in plans)
    replace = sum(p.upload == "replace" for p in plans)
    lines.append(
        "in total: %d new artdaqDB versions (%d first, %d updates), %d UconDB replacements "
        "(override; the old versions stay readable by id), %d new UconDB keys, %d to "
        "compare after the store"
        % (
            first + updates,
            first,
            updates,
            replace,
            sum(p.upload == "upload" for p in plans),
            sum(p.upload == "compare" for p in plans),
        )
    )
    cap = archive.batch_size
    if cap and len(left) > cap:
        lines.append(
            "app.batch_size=%d: doit works on %d runs per invocation, so this takes %d "
            "invocations" % (cap, cap, -(-len(left) // cap))
        )
    return lines


def _mkdir(path):
    Path(path).mkdir(parents=True, exist_ok=True)
    return path


def reset_dep(archive, names, chunk=2000):
    """Make doit record the verified tasks as built (`doit reset-dep`), as the lock holder's child."""
    env = dict(os.environ, RRA_LOCK_PARENT=str(os.getpid()))
    for i in range(0, len(names), chunk):
        cmd = [
            sys.executable,
            "-m",
            "doit",
            "-f",
            str(ROOT / "dodo.py"),
            "reset-dep",
            *names[i : i + chunk],
            "config=%s" % Path(archive.path).resolve(),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=str(ROOT))
        if proc.returncode != 0:
            raise OSError(
                "doit reset-dep could not record the recovered targets in %s: %s"
                % (archive.layout.dep_file, (proc.stderr or proc.stdout).strip())
            )
