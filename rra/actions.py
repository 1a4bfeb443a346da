"""Run one stage of one run as a doit action: known failures become one clear line.

doit exits 1 for a TaskFailed (a run failed, as legacy) and 2 for an uncaught
exception (an rra bug), so only expected errors are converted.
"""

import logging

from doit.exceptions import TaskFailed

from .breaker import HeldBack
from .errors import EXPECTED, describe  # noqa: F401  (describe: re-exported for the rra command)

log = logging.getLogger("rra")


def run_step(stage, run, func, *args):
    """Call func(*args) for run; return TaskFailed with a one-line message on a known error."""
    try:
        func(*args)
    except HeldBack as e:  # said once already, by the stage that tripped the breaker
        return TaskFailed("[run %s] [%s] %s" % (run, stage, e))
    except Exception as e:
        if not isinstance(e, EXPECTED):
            raise
        message = "[run %s] [%s] %s" % (run, stage, describe(e))
        log.error(message)
        return TaskFailed(message)
    return None


def fail(stage, run, message):
    """Action of a run that cannot even be scheduled (unreadable record, symlink...)."""
    message = "[run %s] [%s] %s" % (run, stage, message)
    log.error(message)
    return TaskFailed(message)
