"""The one error type of the artdaqDB layer, and the one place its text is cleaned of secrets."""

from urllib.parse import unquote

from ..errors import RraError
from ..urls import redact


def password(uri):
    """The password in a URI's user info ('' if none): what an error text must never show."""
    rest = str(uri or "").partition("://")[2]
    return rest.rpartition("@")[0].partition(":")[2] if "@" in rest else ""


def scrub(text, uri=None):
    """text without the user info of any URL in it and without uri's password anywhere.

    Every backend's failure text (a C++ message, a tool's stderr) passes through here, so a
    password the C++ side echoes in some other form is caught too.
    """
    text = str(text)
    if uri:
        text = text.replace(str(uri), redact(str(uri)))
    text = redact(text)
    secret = password(uri)
    for form in {secret, unquote(secret)} - {""}:
        text = text.replace(form, "***")
    return text


class ArtdaqDBError(RraError):
    """A failed artdaqDB operation, naming the run, file and database (never its credentials).

    uri may be given with its credentials: it is shown redacted and its password is removed
    from the message.
    """

    def __init__(self, message, run=None, file=None, uri=None):
        message = scrub(message, uri)
        super().__init__(message)
        self.message, self.run, self.file = message, run, file
        self.uri = scrub(uri, uri) if uri else uri

    def __str__(self):
        where = [
            p
            for p in (
                self.uri and "artdaqDB %s" % self.uri,
                self.run is not None and "run %s" % self.run,
                self.file and str(self.file),
            )
            if p
        ]
        return ": ".join(where + [self.message])
