"""Run one stage of one run as a doit action: known failures become one clear line.

doit exits 1 for a TaskFailed (a run failed, as legacy) and 2 for an uncaught
exception (an rra bug), so only expected errors are converted.
"""
import errno
import logging

from doit.exceptions import TaskFailed

from .breaker import HeldBack

log = logging.getLogger("rra")

EXPECTED = (OSError, UnicodeError, MemoryError, HeldBack)


def expected_errors():
    """Every library's own error type, plus OS errors: all name the run and file."""
    from .artdaqdb import ArtdaqDBError
    from .fhicl import FhiclError
    from .fhiclize import FhiclizeError
    from .fhiclset import DamagedSet
    from .migrating import ValidationError
    from .runfiles import RunFilesError
    from .ucondb import UconDBError
    return EXPECTED + (ArtdaqDBError, FhiclError, FhiclizeError, UconDBError, ValidationError,
                       DamagedSet, RunFilesError)


def run_step(stage, run, func, *args):
    """Call func(*args) for run; return TaskFailed with a one-line message on a known error."""
    try:
        func(*args)
    except HeldBack as e:  # said once already, by the stage that tripped the breaker
        return TaskFailed("[run %s] [%s] %s" % (run, stage, e))
    except Exception as e:
        if not isinstance(e, expected_errors()):
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


def describe(error):
    """One line for an exception, without a traceback."""
    if isinstance(error, OSError) and error.strerror:
        where = " %s" % error.filename if error.filename else ""
        hint = {errno.ENOSPC: " (disk full: free space on that filesystem)",
                errno.EDQUOT: " (disk quota exceeded on that filesystem)",
                errno.EFBIG: " (file size limit reached: see ulimit -f)"}.get(error.errno, "")
        return "%s:%s %s%s" % (type(error).__name__, where, error.strerror, hint)
    if isinstance(error, MemoryError):
        return "out of memory (a run record file too large to parse?)"
    return str(error) or type(error).__name__
