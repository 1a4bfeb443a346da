"""URLs as they may be shown: without user:password@ (logs, reports, markers, errors)."""
import re

# Greedy up to the last '@' before the path, so a password holding '@' is removed whole.
_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/\s]*@")


def redact(text):
    """text with the user info of every URL in it removed; non-strings pass through."""
    return _USERINFO.sub(r"\1", text) if isinstance(text, str) and text else text
