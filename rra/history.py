"""The last invocations' pace, for the status page and the metrics: derived data only.

At the end of each doit invocation the reporter adds one entry (when it ended, how long
it took, what it did) to <work_dir>/history.json. The file is replaced atomically and
bounded: the newest LIMIT entries, consecutive idle cron ticks folded into one. Nothing
decides what to build from it; losing it loses these numbers and nothing else.
"""

import json
import logging
import os
import time
from pathlib import Path

from . import atomic

log = logging.getLogger("rra")

LIMIT = 50  # entries kept (a few kB)
OUTCOMES = ("done", "failed", "held back", "blocked", "up to date")


def path(work_dir):
    return Path(work_dir) / "history.json"


def load(work_dir):
    """{"invocations": [oldest ... newest], "last_success": epoch or None}; empty if unreadable."""
    try:
        with open(path(work_dir), encoding="utf-8") as f:
            data = json.load(f)
        if isinstance(data, dict) and isinstance(data.get("invocations"), list):
            data.setdefault("last_success", None)
            return data
    except (OSError, ValueError):
        pass
    return {"invocations": [], "last_success": None}


def process_age():
    """Seconds since this process started (Linux /proc: task loading included), or None."""
    try:
        with open("/proc/self/stat") as f:
            start_ticks = int(f.read().rpartition(")")[2].split()[19])  # field 22, starttime
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None


def entry(counts, elapsed, errors=False, now=None):
    """One invocation: counts is the reporter's Counter of (stage, outcome) -> tasks.

    It succeeded (exit 0) unless a task failed, was held back or blocked, doit met an
    error (errors), or it was interrupted.
    """
    from .shutdown import stopping

    now = time.time() if now is None else now
    age = process_age()
    duration = age if age is not None and elapsed <= age < elapsed + 3600 else elapsed
    total = {o: sum(n for (_, out), n in counts.items() if out == o) for o in OUTCOMES}
    archived = counts["validate", "done"]
    interrupted = stopping()
    ok = not (errors or interrupted or total["failed"] or total["held back"] or total["blocked"])
    return {
        "ended": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(now)),
        "ended_ts": round(now, 3),
        "duration_seconds": round(duration, 3),
        "ok": ok,
        "interrupted": interrupted,
        "runs_archived": archived,
        "runs_per_second": round(archived / duration, 2) if duration > 0 else 0.0,
        "tasks": {o.replace(" ", "_"): n for o, n in total.items()},
        "ticks": 1,
    }


def _idle(e):
    return e["ok"] and not any(n for o, n in e["tasks"].items() if o != "up_to_date")


def add(data, new, limit=LIMIT):
    """The history with new appended (an idle tick after an idle tick replaces it, counted)."""
    runs = list(data.get("invocations", []))
    if runs and _idle(new) and _idle(runs[-1]):
        new = dict(new, ticks=runs[-1].get("ticks", 1) + 1, first_ended=runs[-1].get("first_ended", runs[-1]["ended"]))
        runs.pop()
    runs.append(new)
    last = new["ended_ts"] if new["ok"] else data.get("last_success")
    return {"invocations": runs[-limit:], "last_success": last}


def dumps(data):
    """JSON with one invocation per line (a few kB; readable with less)."""
    lines = ",\n".join("  " + json.dumps(e, sort_keys=True) for e in data["invocations"])
    return '{"last_success": %s,\n "invocations": [\n%s\n]}\n' % (json.dumps(data["last_success"]), lines)


def record(work_dir, new):
    """Add new to the work dir's history (atomic); return the history (kept in memory on error)."""
    data = add(load(work_dir), new)
    try:
        atomic.write_text(path(work_dir), dumps(data))
    except OSError as e:
        log.warning(
            "history not written (%s: %s); only the status page's pace table misses it",
            e.filename or path(work_dir),
            e.strerror,
        )
    return data
