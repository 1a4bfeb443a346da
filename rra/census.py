"""Where every run stands, from the files, with as few system calls as the answer allows.

`rra report`, the status page and the Prometheus textfile (written at the end of every
invocation) all need each run's targets, failure records and seal. A sealed run (the
common case: archived, record unchanged) costs four stat calls: its seal, the record's
signature (two) and its run directory, whose mtime says whether an entry was added or
removed after the seal was set (a failure record left by a forced rebuild); only the
other runs are listed one by one. Runs that doit found sealed while loading cost nothing.
"""
import json
import os
from dataclasses import dataclass, field

from .discovery import signature

# stage -> its target, relative to runs/<R>/ (as in rra.layout)
TARGETS = (("fhiclize", "fhicl/manifest.json"), ("artdaqdb", "artdaqdb.json"),
           ("blob", "blob.txt"), ("ucondb", "ucondb.json"), ("validate", "validated.md5"))


@dataclass
class Census:
    on_disk: dict                               # run -> its record directory (str)
    have: dict                                  # stage -> runs whose target exists
    failed: list = field(default_factory=list)  # failure records, by run then stage
    changed: list = field(default_factory=list)  # validated, record changed since
    sealed: set = field(default_factory=set)    # validated from the record as it is now


def runs_on_disk(run_records_dir):
    """{run: directory} of the digit-named directories (no stat: the directory entry's type)."""
    try:
        with os.scandir(run_records_dir) as it:
            return {int(e.name): e.path for e in it
                    if e.name.isdigit() and e.is_dir(follow_symlinks=False)}
    except OSError:
        return {}


def take(layout, run_records_dir, sealed=None):
    """The census of the work dir; sealed: runs known sealed and clean (not looked at)."""
    on_disk = runs_on_disk(run_records_dir)
    runs_dir = str(layout.runs_dir)
    try:
        worked = sorted(int(n) for n in os.listdir(runs_dir) if n.isdigit())
    except OSError:
        worked = []
    out = Census(on_disk, {stage: set() for stage, _ in TARGETS})
    for run in worked:
        run_dir = "%s/%d" % (runs_dir, run)
        record = on_disk.get(run)
        if record is not None and (sealed is not None and run in sealed
                                   or _sealed_and_clean(run_dir, record)):
            for runs in out.have.values():
                runs.add(run)
            out.sealed.add(run)
        else:
            _look(out, run, run_dir, record)
    return out


def _sealed_and_clean(run_dir, record):
    """Sealed, and nothing added to or removed from the run dir since the seal was set."""
    try:
        seal = os.stat(run_dir + "/validated.md5")
        return (seal.st_mtime_ns == signature(record)
                and os.stat(run_dir).st_mtime_ns <= seal.st_ctime_ns)
    except OSError:
        return False


def _look(out, run, run_dir, record):
    """Every target and failure record of one run, from one listing."""
    try:
        names = set(os.listdir(run_dir))
    except OSError:
        return
    for stage, target in TARGETS:
        first, _, rest = target.partition("/")
        if first in names and (not rest or os.path.exists(run_dir + "/" + target)):
            out.have[stage].add(run)
    for name in sorted(n for n in names if n.startswith("failed-")):
        try:
            with open(run_dir + "/" + name, encoding="utf-8") as f:
                rec = json.load(f)
            out.failed.append({"run": run, "stage": rec["stage"], "error": rec["error"],
                               "time": rec.get("time")})
        except (OSError, ValueError, KeyError, TypeError):
            pass
    if record is not None and run in out.have["validate"]:
        try:
            seal = os.stat(run_dir + "/validated.md5").st_mtime_ns
            now = signature(record)
        except OSError:
            return
        if seal == now:
            out.sealed.add(run)
        elif now > seal:
            out.changed.append(run)
