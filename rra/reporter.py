"""doit reporter for people and cron: executed and failed tasks, progress, one summary per stage.

Up-to-date tasks are counted, not listed. It only reports: what a task leaves behind
besides its target (failure records, seals) and what the invocation tells the world
(notifications, metrics) is rra.outcomes, which it calls.
"""

import json
import os
import sys
import time
from collections import Counter, defaultdict

from doit.exceptions import UnmetDependency
from doit.reporter import ConsoleReporter

from . import breaker, outcomes
from .urls import redact

# Seconds between progress lines when stdout is not a terminal (cron mail stays short).
PERIOD = float(os.environ.get("RRA_PROGRESS_SECONDS") or 30)


def for_archive(archive, found=None, quiet=False):
    """A Reporter class bound to the archive (doit instantiates reporters itself).

    found: filled while the tasks load ({"runs": n, "sealed": n}).
    quiet: no line per task and no progress (run_archiver.sh --quiet): failures and the summary.
    """
    return type(
        "Reporter",
        (Reporter,),
        {"archive": archive, "layout": archive.layout, "quiet": quiet, "found": found if found is not None else {}},
    )


def split(task_name):
    """('ucondb', 1207) for 'ucondb:1207'; None for group tasks."""
    stage, _, run = task_name.partition(":")
    return (stage, int(run)) if run.isdigit() else None


class Reporter(ConsoleReporter):
    desc = "rra: executed and failed tasks, progress, then a summary per stage"
    archive = None
    layout = None
    found = {}
    quiet = False

    def __init__(self, outstream, options):
        super().__init__(outstream, options)
        self.counts = Counter()
        self.durations = Counter()
        self.started = time.monotonic()
        self.started_wall = time.time()
        self.tty = hasattr(outstream, "isatty") and outstream.isatty()
        self.tasks_total = self.tasks_done = self.executed = 0
        self.runs_total = 0
        self.last_progress = time.monotonic()
        self.task_started = {}
        self.failed = []
        self.validated = set()  # runs whose validation succeeded or was current
        self.versions = {}  # run -> True if this invocation stored an update, False a first
        self.uploads = defaultdict(list)  # "uploaded" | "replaced" | "adopted" -> runs
        self.differing = Counter()  # section -> runs whose UconDB version was replaced for it

    def initialize(self, tasks, selected_tasks):
        """Count the run tasks this invocation may reach: progress moves with every one of them."""
        todo, seen = list(selected_tasks or ()), set()
        while todo:
            name = todo.pop()
            if name in seen or name not in tasks:
                continue
            seen.add(name)
            todo.extend(tasks[name].task_dep)
        keys = [split(name) for name in seen]
        self.tasks_total = sum(1 for k in keys if k)
        self.runs_total = len({k[1] for k in keys if k and k[0] == "validate"})

    def execute_task(self, task):
        if split(task.name):
            self.task_started[task.name] = time.monotonic()
            if not self.quiet:
                self._clear_progress()
                self.write(".  %s\n" % task.name)

    def add_success(self, task):
        key = split(task.name)
        if key:
            if self.layout is not None:
                outcomes.succeeded(self.layout, key[1], key[0])
                self._note(*key)
            self._count(task, "done")

    def add_failure(self, task, fail):
        key = split(task.name)
        if isinstance(fail, UnmetDependency):  # the failed dependency already said why
            if key:
                self._count(task, "blocked")
            return
        lines = fail.get_msg().strip().splitlines()
        message = redact(lines[-1] if lines else fail.get_name())  # also what is recorded and sent
        if breaker.PREFIX in message:  # the breaker said why once; these wait for the next tick
            if key:
                self._count(task, "held back")
            return
        self.failures.append({"task": task, "exception": fail})
        self._clear_progress()
        self.write("FAILED %s: %s\n" % (task.name, message))
        if key:
            self._count(task, "failed")
            self.failed.append((key[1], key[0], message))
            if self.layout is not None:
                outcomes.failed(self.layout, key[1], key[0], message)

    def skip_uptodate(self, task):
        key = split(task.name)
        if key:
            if key[0] == "validate":
                self.validated.add(key[1])
            self._count(task, "up to date")
            outcomes.seal((task.meta or {}).get("seal"))  # the whole chain was found current

    def _note(self, stage, run):
        """What a finished task did, from its target (tasks may run in worker processes)."""
        if stage == "validate":
            self.validated.add(run)
            return
        if stage not in ("artdaqdb", "ucondb"):
            return
        path = self.layout.artdaqdb_marker(run) if stage == "artdaqdb" else self.layout.ucondb_marker(run)
        try:
            with open(path) as f:
                marker = json.load(f)
        except (OSError, ValueError):
            return
        if stage == "artdaqdb":
            if _epoch(marker.get("stored_at")) >= self.started_wall:  # stored by this invocation
                self.versions[run] = marker.get("version") != marker.get("configuration")
        elif marker.get("replaced") is not None:
            self.uploads["replaced"].append(run)
            self.differing.update(marker.get("differing") or ())
        else:
            self.uploads["adopted" if marker.get("adopted") else "uploaded"].append(run)

    def _count(self, task, outcome):
        stage, run = split(task.name)
        self.counts[stage, outcome] += 1
        if task.name in self.task_started:
            self.executed += 1
            self.durations[stage] += time.monotonic() - self.task_started.pop(task.name)
        self.tasks_done += 1
        self._progress()

    def _progress(self, final=False):
        now = time.monotonic()
        if self.quiet or not final and now - self.last_progress < (0.5 if self.tty else PERIOD):
            return
        self.last_progress = now
        elapsed = now - self.started
        rate = self.tasks_done / elapsed if elapsed > 0 else 0.0
        left = max(self.tasks_total - self.tasks_done, 0)
        eta = "%dm%02ds" % divmod(int(left / rate), 60) if rate > 0 and left else "-"
        line = "progress: %d/%d tasks (validated %d/%d runs), %.1f tasks/s, ETA %s" % (
            self.tasks_done,
            self.tasks_total,
            len(self.validated),
            self.runs_total,
            rate,
            eta,
        )
        if self.tty:
            self.write("\r%s\033[K" % line)
        elif not final:
            self.write(line + "\n")

    def _clear_progress(self):
        if self.tty:
            self.write("\r\033[K")

    def complete_run(self):
        self._clear_progress()
        for result in self.failures:
            exc = result["exception"]
            if exc.get_name() != "TaskFailed":  # an rra bug: keep the traceback
                self.write("#" * 40 + "\n%s - %s\n%s\n" % (exc.get_name(), result["task"].name, redact(exc.get_msg())))
        if self.runtime_errors:
            self.write("Execution aborted.\n%s\n" % "\n".join(self.runtime_errors))
        for stage in sorted({stage for stage, _ in self.counts}):
            parts = [
                "%d %s" % (self.counts[stage, k], k)
                for k in ("done", "failed", "held back", "blocked", "up to date")
                if self.counts[stage, k]
            ]
            self.write("%-9s %s\n" % (stage + ":", ", ".join(parts)))
        for line in self.changes():
            self.write(line + "\n")
        held = breaker.reason(self.layout.work_dir) if self.layout is not None else None
        if held:
            self.write("UconDB: %s; every upload waits for the next invocation\n" % held)
        if self.found.get("deferred"):
            self.write("%d more runs wait for the next invocation (app.batch_size)\n" % self.found["deferred"])
        if self.found.get("runs") and (self.runs_total or not self.tasks_total):
            self.write(self.standing() + "\n")
        self.write("finished in %.1f s\n" % (time.monotonic() - self.started))
        sys.stdout.flush()
        if self.archive is not None:
            self._tell_the_world()

    def changes(self):
        """What this invocation changed in the databases, and why replacements happened."""
        from .report import ranges, spell

        lines = []
        if self.versions:
            updates = sum(self.versions.values())
            lines.append(
                "artdaqDB: %d new versions (%d first versions, %d updates of runs "
                "stored before): %s"
                % (len(self.versions), len(self.versions) - updates, updates, spell(ranges(self.versions), 8))
            )
        ups = self.uploads
        if any(ups.values()):
            lines.append(
                "UconDB: %d uploaded, %d replaced (override), %d already there (adopted)"
                % (len(ups["uploaded"]), len(ups["replaced"]), len(ups["adopted"]))
            )
        if ups["replaced"]:
            lines.append("  replaced %s; the old versions stay readable by id" % spell(ranges(ups["replaced"]), 8))
            lines.append(
                "  they differed in "
                + ", ".join(
                    "%s (%d run%s)" % (name, n, "" if n == 1 else "s") for name, n in self.differing.most_common(8)
                )
            )
        return lines

    def standing(self):
        """The runs on disk as this invocation leaves them."""
        found, failed = self.found, {r for r, _, _ in self.failed}
        done = found.get("sealed", 0) + len(self.validated)
        now = self.counts["validate", "done"]
        line = "now: %d of %d runs archived and validated (%d sealed before, %d validated by this invocation)" % (
            done,
            found["runs"],
            found.get("sealed", 0),
            now,
        )
        if failed:
            line += "; %d failed (retried by the next invocation)" % len(failed)
        return line

    def _tell_the_world(self):
        outcomes.tell_the_world(
            self.archive,
            self.failed,
            self.counts,
            self.durations,
            time.monotonic() - self.started,
            not (self.failures or self.runtime_errors),
            self.found.get("sealed_runs"),
        )


def _epoch(stamp):
    """Seconds since the epoch of an artdaqDB timestamp (0 if absent or not one)."""
    try:
        from .artdaqdb import parse_timestamp

        return parse_timestamp(stamp).timestamp()
    except (ValueError, TypeError):
        return 0.0
