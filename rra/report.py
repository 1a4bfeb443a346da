"""`rra report`: where every run stands, from the targets alone (and, with live, the databases).

Nothing here is stored state: each number is recomputed from the run records,
the files under the work dir and, for --live, what artdaqDB and UconDB hold.
"""

import json
import socket
import textwrap
import time

from . import census
from .stages import NAMES as RUN_STAGES
from .stages import TITLES as STAGE_TITLES

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
    return {
        "count": len(runs),
        "first": runs[0] if runs else None,
        "last": runs[-1] if runs else None,
        "ranges": ranges(runs),
        "gaps": gaps(runs),
    }


def collect(archive, live=False, sealed=None):
    """The report as a dict (its JSON form is documented in docs/report.md).

    sealed: runs doit found sealed while loading (not looked at again; see rra.census).
    """
    layout = archive.layout
    found = census.take(layout, archive.records_dir, sealed, archive.stage_names)  # a sealed run: a few stats
    on_disk, have, failed, changed = found.on_disk, found.have, found.failed, found.changed
    waiting = sorted(set(on_disk) - have["validate"] - {f["run"] for f in failed})
    report = {
        "schema": SCHEMA_VERSION,
        "generated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": socket.gethostname(),
        "work_dir": str(layout.work_dir),
        "run_records_dir": str(archive.records_dir),
        "stages": dict([("record", _stage(on_disk))] + [(s, _stage(have[s])) for s in STAGES[1:] if s in have]),
        "failed": failed,
        "changed": changed,
        "not_archived": waiting,
        "missing_records": sorted(have["validate"] - set(on_disk)),
        "not_runs": [{"path": p, "why": why} for p, why in found.strays],
        "sealed": ranges(found.sealed),
    }
    if live:
        report["live"] = _live(archive, layout, on_disk, have, set(on_disk) - have["validate"])
    report["recommendations"] = recommend(report)
    return report


def recommend(report):
    """What to do, in plain words."""
    says = []
    if report["not_archived"]:
        says.append(
            "%d runs on disk not yet archived: %s - run `doit`"
            % (len(report["not_archived"]), spell(ranges(report["not_archived"]), 8))
        )
    if report["changed"]:
        says.append(
            "%d runs changed since archived: %s - run `doit`"
            % (len(report["changed"]), spell(ranges(report["changed"]), 8))
        )
    if report["failed"]:
        stages = sorted({f["stage"] for f in report["failed"]})
        says.append(
            "%d runs failed (%s): fix the cause shown above, then run `doit`"
            % (len({f["run"] for f in report["failed"]}), ", ".join(stages))
        )
    if report["missing_records"]:
        says.append(
            "%d archived runs have no record on disk any more: %s (nothing is lost; "
            "they stay archived)" % (len(report["missing_records"]), spell(ranges(report["missing_records"]), 8))
        )
    if report.get("not_runs"):
        says.append(
            "%d entries of run_records_dir look like runs but are not, so they are not "
            "archived: %s - rename or move them out"
            % (len(report["not_runs"]), "; ".join("%r (%s)" % (s["path"], s["why"]) for s in report["not_runs"][:5]))
        )
    live = report.get("live")
    if live and (live["pending_artdaqdb"] or live["pending_ucondb"]):
        pending = sorted(set(live["pending_artdaqdb"]) | set(live["pending_ucondb"]))
        says.append(
            "%d runs not yet archived already have versions in artdaqDB or UconDB: %s - "
            "the next `doit` adopts what is the same and adds what differs (`rra recover "
            "--dry-run` says per run what)" % (len(pending), spell(ranges(pending), 8))
        )
    if live and any(live[k] for k in live if k.startswith("disagree")):
        says.append("the databases disagree with the work dir: run `rra recover --dry-run`, then `rra recover`")
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
        lines.append("%-20s %7d  %-10s %s" % (TITLES[stage], st["count"], span, spell(st["gaps"], 3) or "none"))
    if report["failed"]:
        lines += ["", "failed (last attempt):"]
        for f in report["failed"]:
            lines += textwrap.wrap(
                "%s:%d %s" % (f["stage"], f["run"], f["error"]), width, initial_indent="  ", subsequent_indent="      "
            )
    live = report.get("live")
    if live:
        lines += ["", "live: artdaqDB holds %d runs, UconDB %d keys" % (live["artdaqdb_runs"], live["ucondb_keys"])]
        for key, title in LIVE_TITLES:
            if live[key]:
                lines += textwrap.wrap(
                    "%s: %s" % (title, spell(ranges(live[key]), 10)),
                    width,
                    initial_indent="  ",
                    subsequent_indent="      ",
                )
        for key, title in NOTE_TITLES:
            if live[key]:
                lines += textwrap.wrap(
                    "note: %s: %s" % (title, spell(ranges(live[key]), 10)),
                    width,
                    initial_indent="  ",
                    subsequent_indent="      ",
                )
        for problem in live["errors"]:
            lines += textwrap.wrap(problem, width, initial_indent="  ", subsequent_indent="      ")
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


def _live(archive, layout, on_disk, have, waiting):
    """Compare the markers with what artdaqDB and UconDB hold now."""
    out = {k: [] for k, _ in LIVE_TITLES + NOTE_TITLES}
    out.update(artdaqdb_runs=0, ucondb_keys=0, errors=[], pending_artdaqdb=[], pending_ucondb=[])
    try:
        in_db = set(archive.artdaqdb().runs())
        out["artdaqdb_runs"] = len(in_db)
        _unknown(out, "artdaqdb", in_db, have["artdaqdb"], on_disk, waiting)
        out["disagree_artdaqdb_missing"] = sorted(have["artdaqdb"] - in_db)
    except Exception as e:  # report what could be read; name what could not
        out["errors"].append("artdaqDB: %s" % e)
    try:
        versions = {int(m.key): m for m in archive.ucondb().versions() if m.key and str(m.key).isdigit()}
        out["ucondb_keys"] = len(versions)
        _unknown(out, "ucondb", set(versions), have["ucondb"], on_disk, waiting)
        out["disagree_ucondb_missing"] = sorted(have["ucondb"] - set(versions))
        out["disagree_ucondb_adler32"] = sorted(
            r for r in set(versions) & have["blob"] & have["ucondb"] if not _agrees(versions[r], layout, r)
        )
    except Exception as e:
        out["errors"].append("UconDB: %s" % e)
    return out


def _agrees(meta, layout, run):
    """The key holds our blob, or the version the upload marker adopted."""
    with open(layout.blob(run), "rb") as f:
        from .ucondb.meta import adler32

        if adler32(f.read()) == meta.adler32:
            return True
    try:
        with open(layout.ucondb_marker(run)) as f:
            marker = json.load(f)
        return str(marker.get("version_id")) == str(meta.version_id) and marker.get("adler32") == meta.adler32
    except (OSError, ValueError):
        return False
