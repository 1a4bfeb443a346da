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
import time
from dataclasses import dataclass, field

from .discovery import signature, survey
from .stages import APART, CHAIN
from .stages import target as target_of


@dataclass
class Census:
    on_disk: dict  # run -> its record directory (str)
    have: dict  # stage -> runs whose target exists
    failed: list = field(default_factory=list)  # failure records that still hold, by run then stage
    changed: list = field(default_factory=list)  # validated, record changed since
    sealed: set = field(default_factory=set)  # validated from the record as it is now
    strays: list = field(default_factory=list)  # (path, why) of names that look like runs but are not


def runs_on_disk(run_records_dir):
    """{run: directory} of the run directories (canonical ASCII digits; rra.discovery.survey)."""
    return _survey(run_records_dir)[0]


def _survey(run_records_dir):
    try:
        runs, strays, _ = survey(run_records_dir)
    except OSError:
        return {}, []
    return {run: e.path for run, e in runs.items()}, strays


def take(layout, run_records_dir, sealed=None, stages=CHAIN):
    """The census of the work dir; sealed: runs known sealed and clean (not looked at).

    stages: the archive's (Archive.stage_names): with files, a run is sealed only when
    files.json carries the seal too.
    """
    on_disk, strays = _survey(run_records_dir)
    runs_dir = str(layout.runs_dir)
    try:
        worked = sorted(int(n) for n in os.listdir(runs_dir) if n.isascii() and n.isdigit())
    except OSError:
        worked = []
    targets = [(stage, os.path.relpath(target_of(layout, stage, 0), layout.run_dir(0))) for stage in stages]
    seals = ["validated.md5"] + (["files.json"] if "files" in dict(targets) else [])
    out = Census(on_disk, {stage: set() for stage, _ in targets}, strays=strays)
    for run in worked:
        run_dir = "%s/%d" % (runs_dir, run)
        record = on_disk.get(run)
        if record is not None and (sealed is not None and run in sealed or _sealed_and_clean(run_dir, record, seals)):
            for runs in out.have.values():
                runs.add(run)
            out.sealed.add(run)
        else:
            _look(out, layout, run, run_dir, record, targets, seals)
    return out


def _sealed_and_clean(run_dir, record, seals):
    """Sealed, and nothing added to or removed from the run dir since the seal was set."""
    try:
        sig = signature(record)
        marks = [os.stat(run_dir + "/" + name) for name in seals]
        return all(m.st_mtime_ns == sig for m in marks) and os.stat(run_dir).st_mtime_ns <= min(
            m.st_ctime_ns for m in marks
        )
    except OSError:
        return False


def _look(out, layout, run, run_dir, record, targets, seals):
    """Every target and failure record of one run, from one listing."""
    try:
        names = set(os.listdir(run_dir))
    except OSError:
        return
    for stage, target in targets:
        first, _, rest = target.partition("/")
        if first in names and (not rest or os.path.exists(run_dir + "/" + target)):
            out.have[stage].add(run)
    if any(n.startswith("failed-") for n in names):
        out.failed += [{k: f[k] for k in ("run", "stage", "error", "time")} for f in failures(layout, run)]
    if record is not None and run in out.have["validate"]:
        try:
            marks = [os.stat(run_dir + "/" + name).st_mtime_ns for name in seals if name in names]
            now = signature(record)
        except OSError:
            return
        if len(marks) == len(seals) and all(m == now for m in marks):
            out.sealed.add(run)
        elif now > marks[0]:
            out.changed.append(run)


def failures(layout, run):
    """The run's failure records that still hold: a stage that later succeeded has none.

    The reporter removes a record when its task succeeds; one left behind (the stage was
    then built by another task of its batch, or by rra recover) is older than the target.
    """
    try:
        names = sorted(n for n in os.listdir(layout.run_dir(run)) if n.startswith("failed-"))
    except OSError:
        return []
    out = []
    for name in names:
        try:
            with open(layout.run_dir(run) / name) as f:
                rec = json.load(f)
            rec = {
                "run": run,
                "stage": rec["stage"],
                "error": rec["error"],
                "time": rec.get("time"),
                "at": rec.get("at") or _parse_time(rec.get("time")),
            }
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if not _succeeded_since(layout, run, rec["stage"], rec["at"]):
            out.append(rec)
    return out


def _succeeded_since(layout, run, stage, at):
    """A target of this stage or a later one was written after the failure at `at` (epoch s)."""
    if at is None:
        return False
    later = CHAIN[CHAIN.index(stage) :] if stage in CHAIN else (stage,) if stage in APART else ()
    for name in later:
        try:
            st = os.stat(target_of(layout, name, run))
        except OSError:
            continue
        # targets are renamed into place (mtime: when written); seals move their mtime
        if (st.st_ctime if name in ("validate", "files") else st.st_mtime) > at:
            return True
    return False


def _parse_time(text):
    """Epoch seconds of a failure record's time (records before 'at' was added), else None."""
    try:
        return time.mktime(time.strptime(text, "%Y-%m-%dT%H:%M:%S%z")) + 1  # whole seconds
    except (TypeError, ValueError):
        return None
