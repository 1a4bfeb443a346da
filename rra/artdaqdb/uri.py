"""Database URIs: which backend serves them, where the files are, and how to show them safely."""

from ..urls import redact as _redact
from .errors import ArtdaqDBError

FILESYSTEM = "filesystemdb://"
MONGODB = "mongodb://"


def redact(uri):
    """The URI without user and password, fit for logs, errors and markers."""
    return _redact(str(uri))


def scheme(uri):
    """'filesystemdb', 'mongodb', or raise: the scheme decides which backends can serve a URI."""
    for prefix in (FILESYSTEM, MONGODB):
        if str(uri).startswith(prefix):
            return prefix[:-3]
    raise ArtdaqDBError("unsupported database URI; use filesystemdb:///abs/path or mongodb://host:port/db", uri=uri)


def filesystem_path(uri):
    """The database directory of a filesystemdb:// URI (the C++ side drops a trailing '/')."""
    if not str(uri).startswith(FILESYSTEM):
        raise ArtdaqDBError("not a filesystemdb:// URI", uri=uri)
    path = str(uri)[len(FILESYSTEM) :]
    path = path.rstrip("/") or path
    if not path:
        raise ArtdaqDBError("filesystemdb:// URI without a path", uri=uri)
    return path
