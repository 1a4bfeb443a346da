"""doit's state (<work_dir>/.doit.db) heals itself: a damaged file is moved aside, not fatal.

A power cut or a full disk can leave garbage there; doit would then stop with a
traceback on every tick until someone removed it. Everything in it can be
rebuilt from the targets: a task with no saved state runs again, finds its
target's content current (artdaqDB marker, UconDB adoption) and stores or
uploads nothing new. The file is created not world-readable.
"""

import logging
import os
import sqlite3
import time

from doit import dependency

log = logging.getLogger("rra")

HEADER = b"SQLite format 3\x00"
_init, _get, _in, _dump = (
    dependency.SqliteDB.__init__,
    dependency.SqliteDB._get_task_data,
    dependency.SqliteDB.in_,
    dependency.SqliteDB.dump,
)


def prepare(path):
    """Create an empty database file, mode 0640, unless there is one (SQLite takes an empty file)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640))
    except FileExistsError:
        pass


def set_aside(path, why):
    """Move a damaged state file (and its journal) out of the way; returns the new name."""
    aside = "%s.damaged-%s" % (path, time.strftime("%Y%m%d-%H%M%S"))
    os.replace(path, aside)
    try:
        os.replace(path + "-journal", aside + "-journal")
    except FileNotFoundError:
        pass
    log.warning(
        "doit's state %s was damaged (%s): moved to %s; it is rebuilt from the targets "
        "(what is archived already is found current, nothing is uploaded again)",
        path,
        why,
        aside,
    )
    return aside


def _damage(path):
    """Why path is not a SQLite database, or None (the header only: cheap on every tick)."""
    try:
        with open(path, "rb") as f:
            head = f.read(len(HEADER))
    except FileNotFoundError:
        return None
    return None if head in (b"", HEADER) else "not an SQLite database"


def _open(self, name, codec, **kwargs):
    why = _damage(name)
    if why is None:
        try:
            return _init(self, name, codec, **kwargs)
        except (dependency.DatabaseException, sqlite3.DatabaseError) as e:
            cause = e if isinstance(e, sqlite3.Error) else e.__context__
            if isinstance(cause, sqlite3.OperationalError):
                raise  # locked, unreadable: not damage, and not ours to move
            why = str(cause or e).splitlines()[0][:200]
    set_aside(name, why)
    prepare(name)
    _init(self, name, codec, **kwargs)


def _reading(real):
    """A read that hits a damaged page: the task is treated as never run, the file replaced on dump."""

    def read(self, task_id):
        try:
            return real(self, task_id)
        except sqlite3.DatabaseError as e:
            if isinstance(e, sqlite3.OperationalError):
                raise  # locked, I/O: not damage
            self._damaged = str(e)
            return {} if real is _get else False

    return read


def _save(self):
    why = getattr(self, "_damaged", None)
    if why:
        try:
            self._conn.close()
        except sqlite3.Error:
            pass
        set_aside(self.name, why)
        prepare(self.name)
        self._conn = self._sqlite3(self.name)
        self._dirty = set(self._cache)  # what this invocation knows; the rest runs again
        self._damaged = None
    _dump(self)


def install():
    """Patch doit's sqlite3 backend (safe to call twice)."""
    dependency.SqliteDB.__init__ = _open
    dependency.SqliteDB._get_task_data = _reading(_get)
    dependency.SqliteDB.in_ = _reading(_in)
    dependency.SqliteDB.dump = _save
