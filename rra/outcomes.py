"""What a finished task leaves behind besides its target, and what an invocation tells the world.

The doit reporter (rra.reporter) only reports: it calls these. A task's success clears its
failure record; a failure writes one (for `rra report` and `rra status`, after the process
has gone); a run whose whole chain was found current is sealed. At the end, one
notification for all failures, and the metrics (Carbon, the Prometheus textfile, the
history the status page reads).
"""

import json
import os
import time

from . import atomic, discovery


def succeeded(layout, run, stage):
    """The stage is done: a failure record of it no longer holds."""
    atomic.remove(layout.failure(run, stage))


def failed(layout, run, stage, message):
    """Record the failure beside the run's targets (atomic, tiny); the console already said it."""
    try:
        atomic.write_text(
            layout.failure(run, stage),
            json.dumps(
                {
                    "run": run,
                    "stage": stage,
                    "error": message,
                    "at": time.time(),
                    "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                }
            )
            + "\n",
        )
    except OSError:
        pass  # the console line and the log already say it


def seal(seal_meta):
    """(path, signature) of a task whose chain was found current: skip the run until it changes."""
    if seal_meta and seal_meta[1] is not None:
        try:
            discovery.seal(*seal_meta)
        except OSError:
            pass


def tell_the_world(archive, failures, counts, durations, seconds, ok, sealed_runs):
    """One notification for all failures (run, stage, message), and the invocation's metrics.

    These read their own sections of the config (reporting, carbon, metrics): what the
    invocation tells the world is configured there, not in the archive's settings.
    """
    cfg, layout = archive.config, archive.layout
    from . import history, metrics, prometheus

    if failures:
        from . import notify

        notify.notify_failures(cfg, [notify.Failure(r, s, m) for r, s, m in failures])
    stats = {
        stage: {
            "processed": counts[stage, "done"] + counts[stage, "failed"],
            "failed": counts[stage, "failed"],
            "duration_seconds": round(durations[stage], 3),
        }
        for stage in {stage for stage, _ in counts}
    }
    if stats:
        metrics.post_carbon(cfg, stats, newest_validated(layout))
    past = history.record(archive.work_dir, history.entry(counts, seconds, not ok))  # the page's pace table
    prometheus.write_textfile(archive, past, sealed_runs)


def newest_validated(layout):
    """The highest run number with a validation record (None if none)."""
    try:
        runs = [int(n) for n in os.listdir(layout.runs_dir) if n.isdigit()]
    except OSError:
        return None
    for run in sorted(runs, reverse=True):
        if layout.validated(run).exists():
            return run
    return None
