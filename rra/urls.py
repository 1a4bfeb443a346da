"""URLs as they may be shown: without user:password@ (logs, reports, markers, errors).

A password may hold any character, '/', ' ' and '@' included, so the user info of
a URL is everything between '://' and the last '@' of the URL, not what
urlsplit() takes for it. Free text (an error message quoting a URL) cannot be
parsed that way, so the secrets rra was configured with are also blanked out
wherever they appear, whatever quoted them.
"""

import re
from urllib.parse import quote, unquote

MASK = "********"
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
# In free text: up to the last '@' before white space, so '/' or '@' in a password go too.
_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^\s]*@")
_secrets = set()  # configured secrets, as given and percent-encoded


def split_credentials(url):
    """(url without its user info, user or None, password or None), percent-decoded.

    'https://u:pa/ss@host/app' -> ('https://host/app', 'u', 'pa/ss'). A path or
    query must not hold '@' after user info (it would be taken for part of it).
    """
    m = _SCHEME.match(url or "")
    if not m:
        return url, None, None
    rest = url[m.end() :]
    at = rest.rfind("@")
    if rest.startswith("/") or at < 0:  # filesystemdb:///path: no authority
        return url, None, None
    user, colon, password = rest[:at].partition(":")
    return url[: m.end()] + rest[at + 1 :], unquote(user), unquote(password) if colon else None


def register(secret):
    """Blank out secret wherever redact() sees it from now on (config.load registers them all)."""
    if isinstance(secret, str) and secret:
        _secrets.update({secret, quote(secret, safe=""), quote(secret)})


def redact(text):
    """text with the user info of every URL and every registered secret removed; non-strings
    pass through."""
    if not isinstance(text, str) or not text:
        return text
    if _SCHEME.match(text) and "\n" not in text:
        text = split_credentials(text)[0]  # a URL alone: parsed, whatever its password holds
    else:
        text = _USERINFO.sub(r"\1", text)
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text
