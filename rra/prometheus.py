"""Where the archive stands, as a node_exporter textfile (metrics.prometheus_textfile).

node_exporter's textfile collector reads every *.prom file of its directory at each
scrape, so the file is replaced atomically (a scrape never sees half of it) and its
samples carry no timestamps (the collector refuses them). Every series has a work_dir
label, so two archivers on one host can share the collector's directory.
"""

import logging

from . import atomic

log = logging.getLogger("rra")

HELP = {
    "rra_runs": "Runs that reached each stage (record: a run record on disk).",
    "rra_runs_state": "Runs by their state on the status page (gap: numbers with no record).",
    "rra_runs_failed": "Runs whose last attempt failed.",
    "rra_runs_waiting": "Runs whose record, as it is now, is not archived yet (failed included).",
    "rra_oldest_waiting_run": "The run number of the longest-waiting run (absent when none waits).",
    "rra_oldest_waiting_age_seconds": "How long the longest-waiting run's record has waited (0: none).",
    "rra_last_success_timestamp_seconds": "When the last invocation that exited 0 ended.",
    "rra_last_invocation_timestamp_seconds": "When the last invocation ended.",
    "rra_last_invocation_duration_seconds": "Wall time of the last invocation, task loading included.",
    "rra_last_invocation_success": "1 if the last invocation exited 0 (nothing failed or held back).",
    "rra_last_invocation_runs_archived": "Runs validated by the last invocation.",
    "rra_last_invocation_tasks": "Tasks of the last invocation by outcome.",
}


def samples(report, past):
    """[(name, {label: value}, number)] from an extended report and the history."""
    out = [("rra_runs", {"stage": s}, v["count"]) for s, v in report["stages"].items()]
    out += [("rra_runs_state", {"state": s}, n) for s, n in report["states"].items()]
    out.append(("rra_runs_failed", {}, len({f["run"] for f in report["failed"]})))
    wait = report["waiting"]
    out.append(("rra_runs_waiting", {}, wait["count"]))
    if wait["oldest_run"] is not None:
        out.append(("rra_oldest_waiting_run", {}, wait["oldest_run"]))
    out.append(("rra_oldest_waiting_age_seconds", {}, wait["oldest_age_seconds"]))
    if past.get("last_success"):
        out.append(("rra_last_success_timestamp_seconds", {}, past["last_success"]))
    if past.get("invocations"):
        last = past["invocations"][-1]
        out += [
            ("rra_last_invocation_timestamp_seconds", {}, last["ended_ts"]),
            ("rra_last_invocation_duration_seconds", {}, last["duration_seconds"]),
            ("rra_last_invocation_success", {}, int(last["ok"])),
            ("rra_last_invocation_runs_archived", {}, last["runs_archived"]),
        ]
        out += [("rra_last_invocation_tasks", {"outcome": o}, n) for o, n in sorted(last["tasks"].items())]
    return out


def _label(value):
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value):
    return repr(float(value)) if isinstance(value, float) else str(int(value))


def textfile(report, past):
    """The exposition text: HELP and TYPE once per metric, then its samples, no timestamps."""
    common = {"work_dir": report["work_dir"]}
    lines, seen = [], set()
    for name, labels, value in samples(report, past):
        if name not in seen:
            seen.add(name)
            lines += ["# HELP %s %s" % (name, HELP[name]), "# TYPE %s gauge" % name]
        pairs = ",".join('%s="%s"' % (k, _label(v)) for k, v in sorted({**common, **labels}.items()))
        lines.append("%s{%s} %s" % (name, pairs, _number(value)))
    return "\n".join(lines) + "\n"


def write_textfile(archive, past, sealed=None, now=None):
    """Write the textfile if configured; return None when written (or off), else the problem.

    sealed: the runs doit found sealed while loading, which need no look (rra.census).
    """
    cfg = archive.config
    target = cfg.get("metrics.prometheus_textfile")
    if not target:
        return None
    from . import overview, report

    try:
        rep = overview.extend(report.collect(archive, sealed=sealed), cfg, now=now)
        atomic.write_text(target, textfile(rep, past))
        return None
    except OSError as e:
        problem = "cannot write %s: %s (check metrics.prometheus_textfile)" % (e.filename or target, e.strerror or e)
    except Exception as e:  # metrics must never fail an archive run
        problem = "cannot compute the metrics for %s: %s: %s" % (target, type(e).__name__, e)
    log.warning("prometheus metrics not written: %s", problem)
    return problem
