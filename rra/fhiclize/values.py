"""How legacy wrote values: the rules every converter shares, quirks included."""

import re

NUMBER = re.compile(r"[0-9.]+")
NON_ASCII = re.compile(r"[^\x00-\x7f]")


def is_numeric(value):
    """Legacy's number test: digits and at most one dot (so "." counts, as it did)."""
    return bool(NUMBER.fullmatch(value)) and value.count(".") <= 1


def quote(value):
    """A value as legacy wrote it: kept if already quoted, a list or numeric, else quoted."""
    value = value.strip()
    if (value.startswith('"') and value.endswith('"')) or (value.startswith("[") and value.endswith("]")):
        return value
    if is_numeric(value):
        return value
    return '"%s"' % value.replace('"', '\\"')


def fhicl_list(items):
    """A sequence of strings, each quoted as is (legacy escaped nothing here)."""
    return "[" + ", ".join('"%s"' % item for item in items) + "]"


def ascii_dots(text):
    """Every non-ASCII character as '.', as legacy did for setup, environment and RunHistory2."""
    return NON_ASCII.sub(".", text)


def content_lines(text):
    """The stripped lines of a text file that are neither blank nor # comments."""
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            yield line
