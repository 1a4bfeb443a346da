"""Writes a later step trusts: temp file or directory, fsync, then rename.

A reader (or doit's up-to-date check) sees either the old complete state or
the new complete state, never a half-written file.
"""

import os
import shutil
import tempfile
from pathlib import Path


SYNC_THREADS = 16  # fsyncs in flight at once: the file system commits them together


def fsync_dir(path):
    """Make a rename in this directory durable."""
    fd = os.open(str(path), os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_all(fds):
    """fsync every file descriptor of fds; each is durable when this returns.

    Several are synced concurrently: one fsync after another makes the file system
    commit its journal once per file (a store of 50 runs writes 700 documents), while
    fsyncs in flight together are committed together. Raises the first error.
    """
    fds = list(fds)
    if len(fds) < 2:
        for fd in fds:
            os.fsync(fd)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(min(len(fds), SYNC_THREADS)) as pool:  # no thread outlives the call (fork)
        for _ in pool.map(os.fsync, fds):
            pass


def fsync_dirs(paths):
    """fsync_dir for each distinct directory of paths, concurrently."""
    fds = []
    try:
        for path in dict.fromkeys(str(p) for p in paths):
            fds.append(os.open(path, os.O_RDONLY | os.O_DIRECTORY))
        fsync_all(fds)
    finally:
        for fd in fds:
            os.close(fd)


def write_bytes(path, data, mode=0o644):
    """Replace path with data atomically and durably."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        remove(tmp)
        raise
    fsync_dir(path.parent)


def write_text(path, text, mode=0o644):
    write_bytes(path, text.encode("utf-8"), mode)


def write_many(items, mode=0o644):
    """write_bytes for each (path, data) of items, synced together: every temp file is written,
    then all are fsynced, renamed, and their directories fsynced.

    Each file is replaced atomically and is durable when this returns; one that could
    not be written leaves its path as it was (the ones before it may be replaced).
    """
    pending = []  # [fd or None, tmp, path]
    try:
        for path, data in items:
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", suffix=".tmp", dir=path.parent)
            pending.append([fd, tmp, path])
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        fsync_all(fd for fd, _, _ in pending)
        for item in pending:
            os.close(item[0])
            item[0] = None
            os.chmod(item[1], mode)
        for item in pending:
            os.replace(item[1], item[2])
            item[1] = None
    except BaseException:
        for fd, tmp, _ in pending:
            if fd is not None:
                os.close(fd)
            if tmp is not None:
                remove(tmp)
        raise
    fsync_dirs(path.parent for _, _, path in pending)


def replace_dir(path, files, durable=True):
    """Make directory path hold exactly files ({name: bytes}), all or nothing.

    The new set is written (and synced, if durable) in a sibling temp dir, then
    swapped in; between the two renames path does not exist, which every reader
    treats as "not built yet", never as complete. durable=False suits sets that
    can be rebuilt and are checked when read (a crash may leave them empty, or
    undo the swap: nothing is fsynced then).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="." + path.name + ".", suffix=".tmp", dir=path.parent))
    try:
        for name, data in files.items():
            with open(tmp / name, "wb") as f:
                f.write(data)
                if durable:
                    f.flush()
                    os.fsync(f.fileno())
        if durable:
            fsync_dir(tmp)
        old = None
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix="." + path.name + ".", suffix=".old", dir=path.parent))
            os.rename(path, old / "set")
        os.rename(tmp, path)
        if durable:
            fsync_dir(path.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def clean_leftovers(path):
    """Remove the temp files and dirs an interrupted write of path left beside it."""
    path = Path(path)
    if not path.parent.is_dir():
        return
    for entry in path.parent.iterdir():
        if entry.name.startswith("." + path.name + ".") and entry.name.endswith((".tmp", ".old")):
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                remove(entry)


def remove(*paths):
    """Unlink each path that exists; one that is already gone, or cannot go, is no matter."""
    for path in paths:
        try:
            os.unlink(path)
        except OSError:
            pass
