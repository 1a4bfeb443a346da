"""Per-stage counts and durations to Carbon/Graphite, so a dashboard shows the archiver's pace."""

import logging
import math
import re
import socket
import time

log = logging.getLogger("rra")

TIMEOUT = 5  # seconds: a dead Graphite must not hold up cron

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def _name(part):
    """A metric path component: Carbon splits on dots and lines on whitespace."""
    return _UNSAFE.sub("_", str(part).replace(".", "_"))


def _value(value):
    """A finite number as Carbon parses it, or None for anything else (bools count as 0/1)."""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return repr(round(value, 3))
    return None


def plaintext(prefix, stats, newest_archived=None, ts=0):
    """The plaintext-protocol lines: <prefix>.<stage>.<name> <value> <ts>, in the order given."""
    prefix = ".".join(_name(p) for p in str(prefix).strip(".").split(".") if p)
    lines = []
    for stage, values in stats.items():
        for name, value in values.items():
            text = _value(value)
            if text is not None:
                lines.append("%s.%s.%s %s %d\n" % (prefix, _name(stage), _name(name), text, ts))
    if _value(newest_archived) is not None:
        lines.append("%s.newest_archived_run %s %d\n" % (prefix, _value(newest_archived), ts))
    return "".join(lines)


def post_carbon(cfg, stats, newest_archived=None, now=None):
    """Send stats if carbon.enabled; return None when sent (or off), else the problem as a line."""
    if not cfg["carbon.enabled"]:
        return None
    payload = plaintext(cfg["carbon.metric_prefix"], stats, newest_archived, int(time.time() if now is None else now))
    if not payload:
        return None
    host, port = cfg["carbon.host"], cfg["carbon.port"]
    if not host:
        problem = "carbon: carbon.enabled is true but carbon.host is not set"
    else:
        try:
            with socket.create_connection((host, port), timeout=TIMEOUT) as sock:
                sock.sendall(payload.encode("ascii"))
            return None
        except OSError as err:
            problem = "carbon: cannot send %d metrics to %s:%d: %s" % (
                payload.count("\n"),
                host,
                port,
                str(err) or type(err).__name__,
            )
    log.warning("metrics not sent: %s", problem)
    return problem
