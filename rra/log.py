"""Logging for dodo.py and the rra command: stderr plus the rotating app.log_file."""

import logging
import logging.handlers
import os
import sys
import time
from pathlib import Path

from .urls import redact

FORMAT = "%(asctime)s %(levelname)-7s %(message)s"
MAX_BYTES, MAX_AGE_DAYS, BACKUPS = 500 * 2**20, 30, 5  # as the legacy archiver


class SizeAndAgeHandler(logging.handlers.RotatingFileHandler):
    """Rotates when the file passes max_bytes or its first line is older than max_age_days."""

    def __init__(self, path, max_bytes=MAX_BYTES, max_age_days=MAX_AGE_DAYS, backups=BACKUPS):
        super().__init__(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
        self.max_age = max_age_days * 86400
        self.started = self._first_line_time()

    def _first_line_time(self):
        """When the current file was started: the time stamp of its first line (now if empty)."""
        try:
            with open(self.baseFilename, encoding="utf-8", errors="replace") as f:
                return time.mktime(time.strptime(f.read(19), "%Y-%m-%d %H:%M:%S"))
        except (OSError, ValueError):
            return time.time()

    def shouldRollover(self, record):
        if time.time() - self.started > self.max_age:
            return True
        return super().shouldRollover(record)

    def doRollover(self):
        super().doRollover()
        self.started = time.time()

    def _open(self):
        """The log is not world-readable (it names hosts, paths and users)."""
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        return open(fd, self.mode, encoding=self.encoding, errors=getattr(self, "errors", None))

    def handleError(self, record):
        """A log file that cannot be written (disk full): say so once, not a traceback per line."""
        if not getattr(self, "_failed", False):
            self._failed = True
            e = sys.exc_info()[1]
            sys.stderr.write(
                "rra: cannot write the log file %s: %s; going on without it\n"
                % (self.baseFilename, getattr(e, "strerror", None) or e)
            )


class Redact(logging.Filter):
    """Every line rra logs, with URL user info and configured secrets blanked out."""

    def filter(self, record):
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def setup(cfg=None, verbose=False):
    """Configure the 'rra' logger: console once, the log file once a config names one."""
    logger = logging.getLogger("rra")
    level = (
        logging.DEBUG if verbose else getattr(logging, (cfg["app.log_level"] if cfg else "INFO").upper(), logging.INFO)
    )
    logger.setLevel(min(level, logger.level) if logger.handlers else level)
    logger.propagate = False
    if not any(getattr(h, "_rra", "") == "console" for h in logger.handlers):
        console = logging.StreamHandler()
        console.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        console.setLevel(level if verbose else max(level, logging.WARNING))
        console.addFilter(Redact())
        console._rra = "console"
        logger.addHandler(console)
    if cfg and cfg["app.log_file"] and not any(getattr(h, "_rra", "") == "file" for h in logger.handlers):
        path = Path(cfg["app.log_file"])
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = SizeAndAgeHandler(path)
        handler.setFormatter(logging.Formatter(FORMAT))
        handler.addFilter(Redact())
        handler._rra = "file"
        logger.addHandler(handler)
    return logger
