"""doit reporter for cron: executed and failed tasks, then one summary line per stage.

Up-to-date tasks are counted, not listed: a no-op over 100k runs prints a few lines.
"""
import sys
import time
from collections import Counter

from doit.exceptions import UnmetDependency
from doit.reporter import ConsoleReporter


class Reporter(ConsoleReporter):
    desc = "rra: executed and failed tasks, then a summary per stage"

    def __init__(self, outstream, options):
        super().__init__(outstream, options)
        self.counts = Counter()
        self.started = time.monotonic()

    @staticmethod
    def _stage(task):
        return task.name.partition(":")[0] if ":" in task.name else None

    def execute_task(self, task):
        if task.actions and ":" in task.name:
            self.write(".  %s\n" % task.name)

    def add_success(self, task):
        if self._stage(task):
            self.counts[self._stage(task), "done"] += 1

    def add_failure(self, task, fail):
        if isinstance(fail, UnmetDependency):  # the failed dependency already said why
            if self._stage(task):
                self.counts[self._stage(task), "blocked"] += 1
            return
        if self._stage(task):
            self.counts[self._stage(task), "failed"] += 1
        self.failures.append({"task": task, "exception": fail})
        first = fail.get_msg().strip().splitlines()
        self.write("FAILED %s: %s\n" % (task.name, first[-1] if first else fail.get_name()))

    def skip_uptodate(self, task):
        if self._stage(task):
            self.counts[self._stage(task), "up to date"] += 1

    def complete_run(self):
        for result in self.failures:
            exc = result["exception"]
            if exc.get_name() != "TaskFailed":  # an rra bug: keep the traceback
                self.write("#" * 40 + "\n%s - %s\n%s\n" % (exc.get_name(), result["task"].name,
                                                           exc.get_msg()))
        if self.runtime_errors:
            self.write("Execution aborted.\n%s\n" % "\n".join(self.runtime_errors))
        stages = sorted({stage for stage, _ in self.counts})
        for stage in stages:
            parts = ["%d %s" % (self.counts[stage, k], k)
                     for k in ("done", "failed", "blocked", "up to date") if self.counts[stage, k]]
            self.write("%-9s %s\n" % (stage + ":", ", ".join(parts)))
        self.write("finished in %.1f s\n" % (time.monotonic() - self.started))
        sys.stdout.flush()
