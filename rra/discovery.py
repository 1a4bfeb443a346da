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


# The sealing rule. A run whose whole chain validated is "sealed": its validation record
# (and files.json, with ucon_db.files_object) gets the record's signature as its mtime
# (seal). On every tick, is_sealed compares the two in three stat calls: equal means the
# record is exactly as archived, and the run loads no task at all, which keeps a no-op tick
# over 100,000 runs cheap. Any change DAQInterface makes moves the signature: a file added or
# removed moves the directory's mtime, and the stop time appended to metadata.txt moves that
# file's mtime. The run is then unsealed, and doit decides by MD5 what to redo. A file
# edited in place without either moving (by hand, mtime kept) is the one change this cannot
# see: `doit full=1` checks every run. Only validate:R and files:R seal, with the signature
# taken when this invocation found the run, so a record that changed while it was archived
# stays unsealed and is looked at again on the next tick.
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
        if not isinstance(seal_path, str) or "\0" not in seal_path:  # the common case, fast
            return os.stat(seal_path).st_mtime_ns == signature(run_dir)
        sig = signature(run_dir)
        return all(os.stat(p).st_mtime_ns == sig for p in seal_path.split("\0"))
    except OSError:
        return False


# Bounds on one run record by default (the config's app.max_files_per_run and
# app.max_bytes_per_run reach scan() as Archive.record_limits). A run beyond them fails
# alone, found without listing it all.
LIMITS = {"files": 10000, "bytes": 1 << 30}


def run_number(name):
    """The run a directory name stands for: ASCII digits in canonical form (no leading 0), else None."""
    if name.isascii() and name.isdigit() and (name == "0" or name[0] != "0"):
        return int(name)
    return None


def _alias(name):
    """The run number a non-canonical name could be taken for ('01234', ' 104', '١٢٣٤'), else None."""
    try:
        number = int(name)
    except ValueError:
        return None
    return number if number >= 0 else None


def survey(run_records_dir):
    """Run directories, strays and clashes of run_records_dir: (runs, strays, clashes).

    runs: {run: DirEntry}. strays: [(path, why)] of entries that look like runs (a
    digit in the name) but are not; anything else (lost+found, a README) is none
    of the archiver's business. clashes: {run: error} for runs that a stray name
    also stands for ('01234' beside '1234'): neither may be archived as that run.
    """
    try:
        entries = list(os.scandir(run_records_dir))
    except OSError as e:
        raise OSError(
            "cannot list run_records_dir %s: %s (check source_files.run_records_dir)" % (run_records_dir, e.strerror)
        ) from None
    runs, odd = {}, []
    for entry in entries:
        run = run_number(entry.name)
        if run is None:
            if any(c.isdigit() for c in entry.name):
                odd.append((entry.path, "not a run name (a run is a directory named by ASCII digits, no leading zero)"))
        elif entry.is_symlink():
            odd.append((entry.path, "a symbolic link (not followed)"))
        elif not entry.is_dir():
            odd.append((entry.path, "not a directory"))
        else:
            runs[run] = entry
    strays, clashes = [], {}
    for path, why in sorted(odd):
        alias = _alias(os.path.basename(path))
        if alias in runs and run_number(os.path.basename(path)) is None:
            why = "names the same run as %s" % runs[alias].name
            clashes[alias] = (
                "%r and %r both name run %d: neither is archived, so that neither "
                "overwrites the other's archive (rename or move out the one that "
                "is not run %d)" % (runs[alias].path, path, alias, alias)
            )
        strays.append((path, why))
    return runs, strays, clashes


def warn_strays(run_records_dir, strays, limit=10):
    """One warning per tick for every entry that looks like a run but is not one."""
    if not strays:
        return
    shown = ["%r (%s)" % (os.path.basename(p), why) for p, why in strays[:limit]]
    more = " and %d more" % (len(strays) - limit) if len(strays) > limit else ""
    log.warning(
        "%d entries of run_records_dir %s are not runs and are not archived: %s%s; rename or move them out",
        len(strays),
        run_records_dir,
        "; ".join(shown),
        more,
    )


def scan(
    run_records_dir, settle_seconds=0, exclude_most_recent=False, now=None, seal_path=None, forced=(), limits=None
):
    """Run records ready to archive, ascending; a run's problem stays that run's error.

    With seal_path (run -> its validation record), sealed runs cost three stat
    calls and come back with sealed=True, no files and path as a string; runs in
    forced never do.
    """
    runs, strays, clash = survey(Path(run_records_dir))
    warn_strays(run_records_dir, strays)
    limits = limits or LIMITS
    records = []
    for run, entry in runs.items():
        if run in clash:
            records.append(RunRecord(run, Path(entry.path), error=clash[run]))
        elif seal_path and run not in forced and is_sealed(entry.path, seal_path(run)):
            records.append(RunRecord(run, entry.path, sealed=True))
        else:
            records.append(_record(run, Path(entry.path), limits))
    records.sort(key=lambda r: r.run)
    if exclude_most_recent and records:
        log.info("[run %d] newest run left for the next invocation (app.exclude_most_recent_run)", records[-1].run)
        records.pop()
    if settle_seconds > 0:
        now = time.time() if now is None else now
        settled = []
        for rec in records:
            age = now - rec.newest_mtime
            if not rec.sealed and age < settle_seconds:
                log.info(
                    "[run %d] record changed %.0f s ago, left for the next invocation (app.settle_seconds=%g)",
                    rec.run,
                    age,
                    settle_seconds,
                )
            else:
                settled.append(rec)
        records = settled
    return records


def _record(run, path, limits=None):
    """Stat one run directory; any unreadable or unsafe entry makes it an errored run.

    The listing stops past limits["files"] entries: a run of hundreds of thousands
    of files fails alone, fast and in bounded memory.
    """
    limits = limits or LIMITS
    rec = RunRecord(run, path)
    try:
        rec.signature = signature(path)  # before anything reads the record
        rec.newest_mtime = path.stat().st_mtime
        entries = []
        with os.scandir(path) as it:
            for entry in it:
                entries.append(entry)
                if len(entries) > limits["files"]:
                    rec.error = (
                        "run directory %s holds more than %d entries "
                        "(app.max_files_per_run): not archived; if it really is one "
                        "run record, raise the limit" % (path, limits["files"])
                    )
                    return rec
        entries.sort(key=lambda e: e.name)
    except OSError as e:
        rec.error = "cannot read run directory %s: %s (make it readable by the archiver's user, e.g. chmod a+rx)" % (
            path,
            e.strerror,
        )
        return rec
    size = 0
    for entry in entries:
        try:
            if entry.is_symlink():
                rec.error = (
                    "%s is a symbolic link; run records must hold regular files "
                    "(not followed; replace it with the file it points to)" % entry.path
                )
                return rec
            if entry.is_dir(follow_symlinks=False):
                log.debug("[run %d] ignoring subdirectory %s", run, entry.path)
                continue
            if not entry.is_file(follow_symlinks=False):
                rec.error = "%s is not a regular file (move it out of the run directory)" % entry.path
                return rec
            st = entry.stat(follow_symlinks=False)
        except OSError as e:
            rec.error = "cannot stat %s: %s" % (entry.path, e.strerror)
            return rec
        if not os.access(entry.path, os.R_OK):
            rec.error = "cannot read %s: permission denied (make it readable by the archiver's user)" % entry.path
            return rec
        rec.files.append(Path(entry.path))
        rec.newest_mtime = max(rec.newest_mtime, st.st_mtime)
        size += st.st_size
        if size > limits["bytes"]:
            rec.error = (
                "run directory %s holds more than %d bytes (app.max_bytes_per_run): not "
                "archived; if it really is one run record, raise the limit" % (path, limits["bytes"])
            )
            rec.files = []
            return rec
    if not rec.files:
        rec.error = (
            "run directory %s holds no files (if DAQInterface is still writing it, set "
            "app.settle_seconds; otherwise move it out of run_records_dir)" % path
        )
    return rec
