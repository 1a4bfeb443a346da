"""Markers: the small JSON targets that say a stage of a run is done, and with what.

Written atomically and only after the work they describe is durable, so a
marker on disk is a promise the next stage and the report can rely on.
"""

import json
from datetime import datetime, timezone

from . import atomic


def write(path, fields):
    """Write a marker (sorted keys: equal content gives equal bytes, so doit can cut off)."""
    atomic.write_bytes(path, _text(fields))


def write_many(items):
    """write() for each (path, fields) of items, synced together (the markers of a store batch)."""
    atomic.write_many((path, _text(fields)) for path, fields in items)


def _text(fields):
    return (json.dumps(fields, indent=1, sort_keys=True) + "\n").encode("utf-8")


def read(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def now():
    """UTC time for a marker's time field."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
