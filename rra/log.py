"""Logging for dodo.py and the rra command: stderr plus the rotating app.log_file."""
import logging
import logging.handlers
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)-7s %(message)s"


def setup(cfg=None, verbose=False):
    """Configure the 'rra' logger once per process; lines about a run say [run N] [stage]."""
    logger = logging.getLogger("rra")
    if getattr(logger, "_rra_configured", False):
        return logger
    level = logging.DEBUG if verbose else getattr(
        logging, (cfg["app.log_level"] if cfg else "INFO").upper(), logging.INFO)
    logger.setLevel(level)
    console = logging.StreamHandler()
    console.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    console.setLevel(max(level, logging.WARNING) if not verbose else level)
    logger.addHandler(console)
    if cfg and cfg["app.log_file"]:
        path = Path(cfg["app.log_file"])
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=500 * 2**20, backupCount=5)
        handler.setFormatter(logging.Formatter(FORMAT))
        logger.addHandler(handler)
    logger.propagate = False
    logger._rra_configured = True
    return logger
