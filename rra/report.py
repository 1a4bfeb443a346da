"""`rra report`: where every run stands, from the targets alone (and, with live, the databases).

Nothing here is stored state: each number is recomputed from the run records,
the files under the work dir and, for --live, what artdaqDB and UconDB hold.
"""
import json
import os
import socket
import textwrap
import time
import zlib

from .discovery import is_sealed, signature, survey
from .layout import STAGES as RUN_STAGES
from .layout import TITLES as STAGE_TITLES
from .layout import Layout, stages

SCHEMA_VERSION = 2
STAGES = ("record",) + RUN_STAGES
TITLES = dict(STAGE_TITLES, record="run records on disk")


def ranges(runs):
    """[[first, last], ...] of consecutive run numbers."""
    out = []
    for run in sorted(runs):
        if out and run == out[-1][1] + 1:
            out[-1][1] = run
        else:
            out.append([run, run])
    return out


def gaps(runs):
    """[[first, last], ...] of the numbers missing between the lowest and highest run."""
    spans = ranges(runs)
    return [[a[1] + 1, b[0] - 1] for a, b in zip(spans, spans[1:])]


def spell(spans, limit=None):
    """'1207, 1210-1211' (with '... N more' after limit spans)."""
    words = ["%d" % a if a == b else "%d-%d" % (a, b) for a, b in spans]
    if limit and len(words) > limit:
        words = words[:limit] + ["... %d more" % (len(words) - limit)]
    return ", ".join(words)


def _stage(runs):
    runs = sorted(runs)
    return {"count": len(runs), "first": runs[0] if runs else None,
            "last": runs[-1] if runs else None, "ranges": ranges(runs), "gaps": gaps(runs)}


def collect(cfg, live=False):
    """The report as a dict (its JSON form is documented in docs/report.md)."""
    layout = Layout(cfg.work_dir)
    on_disk, strays = _runs_on_disk(cfg.run_records_dir)
    worked = _runs_in(layout.runs_dir)
    targets = {stage: (lambda run, stage=stage: layout.target(stage, run)) for stage in stages(cfg)}
    have = {stage: {r for r in worked if path(r).exists()} for stage, path in targets.items()}
    failed = _failures(layout, worked)
    changed = sorted(r for r in have["validate"] & on_disk.keys()
                     if not is_sealed(on_disk[r], layout.validated(r)) and _changed(
                         on_disk[r], layout.validated(r)))
    waiting = sorted(set(on_disk) - have["validate"] - {f["run"] for f in failed})
    report = {
        "schema": SCHEMA_VERSION,
        "generated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": socket.gethostname(),
        "work_dir": str(layout.work_dir),
        "run_records_dir": str(cfg.run_records_dir),
        "stages": dict([("record", _stage(on_disk))] +
                       [(s, _stage(have[s])) for s in STAGES[1:] if s in have]),
        "failed": failed,
        "changed": changed,
        "not_archived": waiting,
        "missing_records": sorted(have["validate"] - set(on_disk)),
        "not_runs": [{"path": p, "why": why} for p, why in strays],
    }
    if live:
        report["live"] = _live(cfg, layout, on_disk, have, set(on_disk) - have["validate"])
    report["recommendations"] = recommend(report)
    return report


def recommend(report):
    """What to do, in plain words."""
    says = []
    if report["not_archived"]:
        says.append("%d runs on disk not yet archived: %s - run `doit`"
                    % (len(report["not_archived"]), spell(ranges(report["not_archived"]), 8)))
    if report["changed"]:
        says.append("%d runs changed since archived: %s - run `doit`"
                    % (len(report["changed"]), spell(ranges(report["changed"]), 8)))
    if report["failed"]:
        stages = sorted({f["stage"] for f in report["failed"]})
        says.append("%d runs failed (%s): fix the cause shown above, then run `doit`"
                    % (len({f["run"] for f in report["failed"]}), ", ".join(stages)))
    if report["missing_records"]:
        says.append("%d archived runs have no record on disk any more: %s (nothing is lost; "
                    "they stay archived)" % (len(report["missing_records"]),
                                             spell(ranges(report["missing_records"]), 8)))
    if report["not_runs"]:
        says.append("%d entries of run_records_dir look like runs but are not, so they are not "
                    "archived: %s - rename or move them out"
                    % (len(report["not_runs"]), "; ".join("%r (%s)" % (s["path"], s["why"])
                                                          for s in report["not_runs"][:5])))
    live = report.get("live")
    if live and (live["pending_artdaqdb"] or live["pending_ucondb"]):
        pending = sorted(set(live["pending_artdaqdb"]) | set(live["pending_ucondb"]))
        says.append("%d runs not yet archived already have versions in artdaqDB or UconDB: %s - "
                    "the next `doit` adopts what is the same and adds what differs (`rra recover "
                    "--dry-run` says per run what)" % (len(pending), spell(ranges(pending), 8)))
    if live and any(live[k] for k in live if k.startswith("disagree")):
        says.append("the databases disagree with the work dir: run `rra recover --dry-run`, "
                    "then `rra recover`")
    if not says:
        says.append("every run on disk is archived, validated and up to date")
    return says


def render(report, width=80):
    """The report as text that fits `width` columns."""
    lines = ["rra report - %s - %s" % (report["host"], report["generated"]), ""]
    lines.append("%-20s %7s  %-10s %s" % ("stage", "runs", "range", "gaps"))
    for stage in (s for s in STAGES if s in report["stages"]):
        st = report["stages"][stage]
        span = "%s-%s" % (st["first"], st["last"]) if st["count"] else "-"
        lines.append("%-20s %7d  %-10s %s" % (TITLES[stage], st["count"], span,
                                              spell(st["gaps"], 3) or "none"))
    if report["failed"]:
        lines += ["", "failed (last attempt):"]
        for f in report["failed"]:
            lines += textwrap.wrap("%s:%d %s" % (f["stage"], f["run"], f["error"]), width,
                                   initial_indent="  ", subsequent_indent="      ")
    live = report.get("live")
    if live:
        lines += ["", "live: artdaqDB holds %d runs, UconDB %d keys"
                  % (live["artdaqdb_runs"], live["ucondb_keys"])]
        for key, title in LIVE_TITLES:
            if live[key]:
                lines += textwrap.wrap("%s: %s" % (title, spell(ranges(live[key]), 10)), width,
                                       initial_indent="  ", subsequent_indent="      ")
        for key, title in NOTE_TITLES:
            if live[key]:
                lines += textwrap.wrap("note: %s: %s" % (title, spell(ranges(live[key]), 10)),
                                       width, initial_indent="  ", subsequent_indent="      ")
        for problem in live["errors"]:
            lines += textwrap.wrap(problem, width, initial_indent="  ",
                                   subsequent_indent="      ")
    lines += [""]
    for say in report["recommendations"]:
        lines += textwrap.wrap(say, width, initial_indent="* ", subsequent_indent="  ")
    return "\n".join(lines) + "\n"


LIVE_TITLES = (
    ("disagree_artdaqdb_unknown", "in artdaqDB, unknown to the work dir"),
    ("disagree_artdaqdb_missing", "marker says archived, artdaqDB lacks it"),
    ("disagree_ucondb_unknown", "in UconDB, unknown to the work dir"),
    ("disagree_ucondb_missing", "marker says uploaded, UconDB lacks the key"),
    ("disagree_ucondb_adler32", "UconDB adler32 differs from the local blob"),
)


# Held by a database, not by the work dir, but nothing to act on: listed once as a note.
NOTE_TITLES = (
    ("stray_artdaqdb", "in artdaqDB, no run record on disk (nothing to do)"),
    ("stray_ucondb", "UconDB keys with no run record on disk (not rra's; nothing to do)"),
)


def _unknown(out, name, in_db, marked, on_disk, waiting):
    """Split what a database holds and the work dir does not know: doit's work, a note, or news."""
    unknown = in_db - marked
    out["pending_" + name] = sorted(unknown & waiting)  # the next doit adopts or replaces
    out["stray_" + name] = sorted(unknown - set(on_disk))  # no record: not rra's to act on
    out["disagree_%s_unknown" % name] = sorted((unknown & set(on_disk)) - waiting)


def _live(cfg, layout, on_disk, have, waiting):
    """Compare the markers with what artdaqDB and UconDB hold now."""
    from . import connect
    out = {k: [] for k, _ in LIVE_TITLES + NOTE_TITLES}
    out.update(artdaqdb_runs=0, ucondb_keys=0, errors=[], pending_artdaqdb=[], pending_ucondb=[])
    try:
        in_db = set(connect.artdaqdb(cfg).runs())
        out["artdaqdb_runs"] = len(in_db)
        _unknown(out, "artdaqdb", in_db, have["artdaqdb"], on_disk, waiting)
        out["disagree_artdaqdb_missing"] = sorted(have["artdaqdb"] - in_db)
    except Exception as e:  # report what could be read; name what could not
        out["errors"].append("artdaqDB: %s" % e)
    try:
        versions = {int(m.key): m for m in connect.ucondb(cfg).versions()
                    if m.key and str(m.key).isdigit()}
        out["ucondb_keys"] = len(versions)
        _unknown(out, "ucondb", set(versions), have["ucondb"], on_disk, waiting)
        out["disagree_ucondb_missing"] = sorted(have["ucondb"] - set(versions))
        out["disagree_ucondb_adler32"] = sorted(
            r for r in set(versions) & have["blob"] & have["ucondb"]
            if not _agrees(versions[r], layout, r))
    except Exception as e:
        out["errors"].append("UconDB: %s" % e)
    return out


def _agrees(meta, layout, run):
    """The key holds our blob, or the version the upload marker adopted."""
    with open(layout.blob(run), "rb") as f:
        if zlib.adler32(f.read()) & 0xFFFFFFFF == meta.adler32:
            return True
    try:
        with open(layout.ucondb_marker(run)) as f:
            marker = json.load(f)
        return str(marker.get("version_id")) == str(meta.version_id) and \
            marker.get("adler32") == meta.adler32
    except (OSError, ValueError):
        return False


def _runs_on_disk(run_records_dir):
    """({run: path}, [(path, why)] of entries that look like runs but are not)."""
    try:
        runs, strays, _ = survey(run_records_dir)
    except OSError:
        return {}, []
    return {run: e.path for run, e in runs.items()}, strays


def _runs_in(runs_dir):
    try:
        return {int(n) for n in os.listdir(runs_dir) if n.isascii() and n.isdigit()}
    except OSError:
        return set()


def _failures(layout, runs):
    out = []
    for run in sorted(runs):
        out += [{k: f[k] for k in ("run", "stage", "error", "time")} for f in failures(layout, run)]
    return out


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
            rec = {"run": run, "stage": rec["stage"], "error": rec["error"],
                   "time": rec.get("time"), "at": rec.get("at") or _parse_time(rec.get("time"))}
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if not _succeeded_since(layout, run, rec["stage"], rec["at"]):
            out.append(rec)
    return out


def _succeeded_since(layout, run, stage, at):
    """A target of this stage or a later one was written after the failure at `at` (epoch s)."""
    if stage not in STAGES or at is None:
        return False
    paths = {"fhiclize": layout.fhicl_manifest, "artdaqdb": layout.artdaqdb_marker,
             "blob": layout.blob, "ucondb": layout.ucondb_marker, "validate": layout.validated}
    for later in STAGES[STAGES.index(stage):]:
        try:
            st = os.stat(paths[later](run))
        except (OSError, KeyError):
            continue
        # targets are renamed into place (mtime: when written); validated.md5's mtime is a seal
        if (st.st_ctime if later == "validate" else st.st_mtime) > at:
            return True
    return False


def _parse_time(text):
    """Epoch seconds of a failure record's time (records before 'at' was added), else None."""
    try:
        return time.mktime(time.strptime(text, "%Y-%m-%dT%H:%M:%S%z")) + 1  # whole seconds
    except (TypeError, ValueError):
        return None


def _changed(run_dir, seal_path):
    """The record moved on since it was sealed (a seal older than the record)."""
    try:
        return signature(run_dir) > os.stat(seal_path).st_mtime_ns
    except OSError:
        return False
