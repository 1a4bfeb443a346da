"""Writes a later step trusts: temp file or directory, fsync, then rename.

A reader (or doit's up-to-date check) sees either the old complete state or
the new complete state, never a half-written file.
"""
import os
import shutil
import tempfile
from pathlib import Path


def fsync_dir(path):
    """Make a rename in this directory durable."""
    fd = os.open(str(path), os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
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


def replace_dir(path, files, durable=True):
    """Make directory path hold exactly files ({name: bytes}), all or nothing.

    The new set is written (and synced, if durable) in a sibling temp dir, then
    swapped in; between the two renames path does not exist, which every reader
    treats as "not built yet", never as complete. durable=False suits sets that
    can be rebuilt and are checked when read (a crash may leave them empty).
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
            old = Path(tempfile.mkdtemp(prefix="." + path.name + ".", suffix=".old",
                                        dir=path.parent))
            os.rename(path, old / "set")
        os.rename(tmp, path)
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
