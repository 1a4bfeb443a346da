"""Find the runs under run_records_dir using stat calls only (it runs on every cron tick)."""
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("rra.discovery")


@dataclass
class RunRecord:
    """One run directory: its regular files, or the reason it cannot be archived."""
    run: int
    path: Path
    files: list = field(default_factory=list)
    newest_mtime: float = 0.0
    error: str = None
    sealed: bool = False
    signature: int = None


def signature(run_dir):
    """When the record last changed, as far as a cheap check can tell (ns).

    DAQInterface adds files (the directory's mtime moves) and appends to
    metadata.txt (its mtime moves); both are covered by two stat calls.
    """
    run_dir = os.fspath(run_dir)  # plain strings: this runs for every run on every tick
    sig = os.stat(run_dir).st_mtime_ns
    try:
        sig = max(sig, os.stat(run_dir + "/metadata.txt", follow_symlinks=False).st_mtime_ns)
    except OSError:
        pass
    return sig


def seal(path, sig):
    """Stamp a run's validation record with the record signature it was archived from."""
    os.utime(path, ns=(sig, sig))


def is_sealed(run_dir, seal_path):
    """Archived and validated from exactly the record as it is now: nothing to load for it.

    seal_path: one path, or several in one string separated by NUL (each must carry the seal).
    """
    try:
        sig = signature(run_dir)
        paths = seal_path.split("\0") if isinstance(seal_path, str) else (seal_path,)
        return all(os.stat(p).st_mtime_ns == sig for p in paths)
    except OSError:
        return False


def scan(run_records_dir, settle_seconds=0, exclude_most_recent=False, now=None,
         seal_path=None, forced=()):
    """Run records ready to archive, ascending; a run's problem stays that run's error.

    With seal_path (run -> its validation record), sealed runs cost three stat
    calls and come back with sealed=True, no files and path as a string; runs in
    forced never do.
    """
    run_records_dir = Path(run_records_dir)
    try:
        entries = list(os.scandir(run_records_dir))
    except OSError as e:
        raise OSError("cannot list run_records_dir %s: %s (check source_files.run_records_dir)"
                      % (run_records_dir, e.strerror)) from None
    records = []
    for entry in entries:
        if not entry.name.isdigit():
            log.debug("ignoring %s: not a run directory (name is not all digits)", entry.path)
            continue
        if entry.is_symlink() or not entry.is_dir():
            log.debug("ignoring %s: not a directory", entry.path)
            continue
        run = int(entry.name)
        if seal_path and run not in forced and is_sealed(entry.path, seal_path(run)):
            records.append(RunRecord(run, entry.path, sealed=True))
        else:
            records.append(_record(run, Path(entry.path)))
    records.sort(key=lambda r: r.run)
    if exclude_most_recent and records:
        log.info("[run %d] newest run left for the next invocation (app.exclude_most_recent_run)",
                 records[-1].run)
        records.pop()
    if settle_seconds > 0:
        now = time.time() if now is None else now
        settled = []
        for rec in records:
            age = now - rec.newest_mtime
            if not rec.sealed and age < settle_seconds:
                log.info("[run %d] record changed %.0f s ago, left for the next invocation "
                         "(app.settle_seconds=%g)", rec.run, age, settle_seconds)
            else:
                settled.append(rec)
        records = settled
    return records


def _record(run, path):
    """Stat one run directory; any unreadable or unsafe entry makes it an errored run."""
    rec = RunRecord(run, path)
    try:
        rec.signature = signature(path)  # before anything reads the record
        rec.newest_mtime = path.stat().st_mtime
        entries = sorted(os.scandir(path), key=lambda e: e.name)
    except OSError as e:
        rec.error = ("cannot read run directory %s: %s (make it readable by the archiver's "
                     "user, e.g. chmod a+rx)" % (path, e.strerror))
        return rec
    for entry in entries:
        try:
            if entry.is_symlink():
                rec.error = ("%s is a symbolic link; run records must hold regular files "
                             "(not followed; replace it with the file it points to)" % entry.path)
                return rec
            if entry.is_dir(follow_symlinks=False):
                log.debug("[run %d] ignoring subdirectory %s", run, entry.path)
                continue
            if not entry.is_file(follow_symlinks=False):
                rec.error = ("%s is not a regular file (move it out of the run directory)"
                             % entry.path)
                return rec
            st = entry.stat(follow_symlinks=False)
        except OSError as e:
            rec.error = "cannot stat %s: %s" % (entry.path, e.strerror)
            return rec
        if not os.access(entry.path, os.R_OK):
            rec.error = ("cannot read %s: permission denied (make it readable by the archiver's "
                         "user)" % entry.path)
            return rec
        rec.files.append(Path(entry.path))
        rec.newest_mtime = max(rec.newest_mtime, st.st_mtime)
    if not rec.files:
        rec.error = ("run directory %s holds no files (if DAQInterface is still writing it, set "
                     "app.settle_seconds; otherwise move it out of run_records_dir)" % path)
    return rec
