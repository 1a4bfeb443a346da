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


def scan(run_records_dir, settle_seconds=0, exclude_most_recent=False, now=None):
    """Run records ready to archive, ascending; a run's problem stays that run's error."""
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
        records.append(_record(int(entry.name), Path(entry.path)))
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
            if age < settle_seconds:
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
        rec.newest_mtime = path.stat().st_mtime
        entries = sorted(os.scandir(path), key=lambda e: e.name)
    except OSError as e:
        rec.error = "cannot read run directory %s: %s" % (path, e.strerror)
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
                rec.error = "%s is not a regular file" % entry.path
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
        rec.error = "run directory %s holds no files" % path
    return rec
