"""One root for every error rra knows how to explain, and the one line that explains it.

Each library keeps its own errors (UconDBError, ArtdaqDBError, FhiclError, ...), as
requests keeps RequestException's family; all derive from RraError, so the doit actions
and the rra command catch one thing, and this module imports nothing of rra's.
"""

import errno


class RraError(Exception):
    """A problem rra has a message for: it names the run, the file and the fix."""


# What a stage turns into one FAILED line (anything else is an rra bug, with a traceback).
EXPECTED = (RraError, OSError, UnicodeError, MemoryError)


def describe(error):
    """One line for an exception, without a traceback."""
    if isinstance(error, OSError) and error.strerror:
        where = " %s" % error.filename if error.filename else ""
        hint = {
            errno.ENOSPC: " (disk full: free space on that filesystem)",
            errno.EDQUOT: " (disk quota exceeded on that filesystem)",
            errno.EFBIG: " (file size limit reached: see ulimit -f)",
        }.get(error.errno, "")
        return "%s:%s %s%s" % (type(error).__name__, where, error.strerror, hint)
    if isinstance(error, MemoryError):
        return "out of memory (a run record file too large to parse?)"
    return str(error) or type(error).__name__
