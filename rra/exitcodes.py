"""Exit codes as the legacy archiver's: 0 done, 1 some runs failed, 2 an rra bug, 130 interrupted.

doit calls a task skipped because its dependency failed an error (exit 2), so
one bad run record would look like an rra bug. Here that skip counts as the
failure it inherits; a real error in the dependency still gives 2.
"""

from doit import runner
from doit.exceptions import UnmetDependency

SUCCESS, FAILED, ERROR, INTERRUPTED = 0, 1, 2, 130

_handle_task_error = runner.Runner._handle_task_error


def _handle(self, node, base_fail):
    before = self.final_result
    _handle_task_error(self, node, base_fail)
    if isinstance(base_fail, UnmetDependency) and before != runner.ERROR:
        self.final_result = runner.FAILURE


def install():
    """Patch doit's runner (all its parallel variants inherit it); safe to call twice."""
    runner.Runner._handle_task_error = _handle
