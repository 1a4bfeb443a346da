"""UconDB errors: one short hierarchy, each message something an operator can act on."""

from ..errors import RraError
from ..urls import redact  # noqa: F401  (re-exported: the client and its tests use it here)


class UconDBError(RraError):
    """Anything that went wrong talking to UconDB; carries the URL without credentials."""

    def __init__(self, message, url=None, status=None):
        self.message, self.url, self.status = message, redact(url), status
        super().__init__(f"{message} [{self.url}]" if self.url else message)


class UconDBConnectionError(UconDBError):
    """The server could not be reached or did not answer properly (retried before raising).

    unreachable: no connection could be made at all (refused, no route, unknown host,
    connect timeout), as opposed to a connection that broke or an answer that was late.
    """

    unreachable = False


class UconDBTimeout(UconDBConnectionError):
    """The server did not answer within the timeout (retried before raising)."""


class UconDBTLSError(UconDBConnectionError):
    """The server's certificate was not trusted; never retried."""


class UconDBAuthError(UconDBError):
    """401/403: the writer user or password is wrong or lacks rights; never retried."""


class UconDBNotFound(UconDBError):
    """404: unknown folder, object or key; never retried."""


class UconDBIntegrityError(UconDBError):
    """Downloaded bytes do not match the size/adler32 the server announced."""


class KeyExists(UconDBError):
    """The object already has a version with this key and override was not asked for."""

    def __init__(self, message, url=None, status=500, key=None):
        self.key = key
        super().__init__(message, url, status)
