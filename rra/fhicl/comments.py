"""Comments as artdaq_database's boost::spirit comment grammar finds them.

The grammar is not line based: before each comment it skips ASCII text and
quoted strings ('...' or "...", at least one character, no escapes) up to the
next `#` or `//`, takes the comment to the end of the line, then needs an end of
line before the next one. An empty "" or '' protects nothing after it; a
non-ASCII character ends the search (the grammar uses ascii::char_).
"""

import re

# a run of ASCII without '#' or '//' (the second also without quotes), written so the regex engine
# takes a character class at a time
_WS = r"[\x00-\x22\x24-\x2e\x30-\x7f]*(?:/(?!/)[\x00-\x22\x24-\x2e\x30-\x7f]*)*"
_WS_B4_QUOTE = r"[\x00-\x21\x24-\x26\x28-\x2e\x30-\x7f]*(?:/(?!/)[\x00-\x21\x24-\x26\x28-\x2e\x30-\x7f]*)*"
_QUOTED = r'(?:"[\x00-\x21\x23-\x7f]+"|\'[\x00-\x26\x28-\x7f]+\')'
_PREFIX = re.compile(_WS_B4_QUOTE + r"(?:" + _QUOTED + _WS_B4_QUOTE + r")*" + _WS)
_COMMENT = re.compile(r"[\x00-\x09\x0b\x0c\x0e-\x7f]+")
_EOL = re.compile(r"[ \t]*(?:\r\n|\r|\n)")


def scan(text):
    """Return {line: comment text} for the comments the C++ grammar sees, in line order."""
    found = {}
    pos = 0
    line, counted = 1, 0
    while True:
        start = _PREFIX.match(text, pos).end()
        m = _COMMENT.match(text, start)
        if m is None:
            return found
        line += text.count("\n", counted, start)
        counted = start
        found.setdefault(line, m.group())
        eol = _EOL.match(text, m.end())
        if eol is None:
            return found
        pos = eol.end()


def as_json(found):
    """The fhicl_to_json `comments` array (pairs are emitted by the caller)."""
    if not found:
        return [(0, "No comments")]
    return sorted(found.items())
