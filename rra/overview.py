"""What the status page shows beyond `rra report`: every run's state, the pace of the last
invocations, failures with retry advice, and the config the page was made from.

`rra report --json` carries the same keys (docs/report.md), so other tools can build on
them. Everything is derived: the report, the work dir's files and history.json.
"""

import re
import time

from . import census, history
from .config import scrub
from .discovery import signature

# A run's state on the strip, most urgent last (a run that is several things shows the last).
STATES = ("sealed", "archived", "partial", "waiting", "changed", "gone", "failed", "gap")
TITLES = {
    "sealed": "archived, validated, record unchanged since (costs nothing per tick)",
    "archived": "validated, not sealed (doit checks it again each tick)",
    "partial": "some stages done, not yet validated",
    "waiting": "on disk, nothing archived yet",
    "changed": "archived, but the record changed since (a stop time came): update waiting",
    "gone": "archived, but its record is gone from disk (nothing lost)",
    "failed": "its last attempt failed",
    "gap": "no run record with this number",
}


def expand(spans):
    """The set of runs in [[first, last], ...]."""
    return {r for a, b in spans for r in range(a, b + 1)}


def run_states(report):
    """{run: state} for every run on disk or archived (gaps are not runs: see spans())."""
    st = report["stages"]
    validated = expand(st["validate"]["ranges"])
    started = expand(st["fhiclize"]["ranges"])
    sealed = expand(report.get("sealed", []))
    states = {}
    for run in expand(st["record"]["ranges"]):
        if run in validated:
            states[run] = "sealed" if run in sealed else "archived"
        else:
            states[run] = "partial" if run in started else "waiting"
    for run in report["changed"]:
        states[run] = "changed"
    for run in report["missing_records"]:
        states[run] = "gone"
    for f in report["failed"]:
        states[f["run"]] = "failed"
    return states


def spans(states):
    """[[first, last, state], ...] from the lowest to the highest run, gaps included."""
    out = []
    for run in sorted(states):
        state = states[run]
        if out and out[-1][1] + 1 < run:
            out.append([out[-1][1] + 1, run - 1, "gap"])
        if out and out[-1][1] + 1 == run and out[-1][2] == state:
            out[-1][1] = run
        else:
            out.append([run, run, state])
    return out


def cause(error):
    """The failure's message without the '[run R] [stage] ' the table already shows."""
    while error.startswith("[") and "] " in error:
        error = error.split("] ", 1)[1]
    return error


def advice(failure):
    """What to do about one failure, in a line: the fix it needs and how it is retried."""
    run, stage, text = failure["run"], failure["stage"], cause(failure["error"]).lower()
    retry = "cron retries it; now: `./run_archiver.sh CONFIG --run %d`" % run
    if any(w in text for w in ("no space", "disk full", "quota", "file size limit")):
        return "free space on that filesystem; " + retry
    if stage in ("ucondb", "validate") and (
        re.search(r"\b40[13]\b", text) or any(w in text for w in ("unauthorized", "password", "forbidden"))
    ):
        return "check ucon_db.writer_user / writer_password (`rra check-config --connect`); " + retry
    if stage in ("ucondb", "validate") and (
        re.search(r"\b5\d\d\b", text)
        or any(
            w in text
            for w in ("timed out", "timeout", "connect", "unreachable", "refused", "reset", "certificate", "ssl", "tls")
        )
    ):
        return "check that UconDB answers (`rra check-config --connect`); " + retry
    if stage == "fhiclize":
        return "fix or restore the run record file named; " + retry
    if stage in ("artdaqdb", "blob"):
        return "check artdaqDB (`rra artdaqdb check URI`); " + retry
    if stage == "validate":
        return "compare with `rra report --live`, see docs/troubleshooting.md; " + retry
    return "see docs/troubleshooting.md for this message; " + retry


def waiting(report, states, run_dirs, cfg, now):
    """The runs whose record as it is now is not archived (waiting, partial, changed, failed)."""
    runs = sorted(r for r, s in states.items() if s in ("waiting", "partial", "changed", "failed") and r in run_dirs)
    if runs and cfg["app.exclude_most_recent_run"] and runs[-1] == max(run_dirs):
        runs.pop()  # left for later by design, not late
    oldest, since = None, None
    for run in runs:
        try:
            sig = signature(run_dirs[run]) / 1e9
        except OSError:
            continue
        if since is None or sig < since:
            oldest, since = run, sig
    return {
        "count": len(runs),
        "oldest_run": oldest,
        "oldest_since": _iso(since) if since else None,
        "oldest_age_seconds": round(max(0.0, now - since), 1) if since else 0.0,
    }


def extend(report, cfg, now=None):
    """Add the page's keys to a report from report.collect(); return it."""
    now = time.time() if now is None else now
    run_dirs = census.runs_on_disk(cfg.run_records_dir)
    states = run_states(report)
    report["strip"] = spans(states)
    report["states"] = {s: 0 for s in STATES}
    for s in states.values():
        report["states"][s] += 1
    report["states"]["gap"] = sum(b - a + 1 for a, b, s in report["strip"] if s == "gap")
    report["waiting"] = waiting(report, states, run_dirs, cfg, now)
    for f in report["failed"]:
        f["error"] = scrub(cfg, f["error"])
        f["cause"] = cause(f["error"])
        f["advice"] = advice(f)
    past = history.load(cfg.work_dir)
    report["invocations"] = past["invocations"]
    report["last_success"] = _iso(past["last_success"]) if past["last_success"] else None
    report["last_success_ts"] = past["last_success"]
    report["generated_ts"] = round(now, 3)
    report["config"] = {"path": str(cfg.path.resolve()), "values": cfg.masked()}
    return report


def _iso(ts):
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(ts))
