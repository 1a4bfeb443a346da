"""UconDB access: the HTTP client, an embedded SQLite store with the same interface, one factory."""

from .client import UconDB
from .errors import (
    KeyExists,
    UconDBAuthError,
    UconDBConnectionError,
    UconDBError,
    UconDBIntegrityError,
    UconDBNotFound,
    UconDBTimeout,
    UconDBTLSError,
)
from .meta import Meta
from .store import EmbeddedUconDB, Store

__all__ = [
    "open_ucondb",
    "UconDB",
    "EmbeddedUconDB",
    "Store",
    "Meta",
    "UconDBError",
    "UconDBConnectionError",
    "UconDBTimeout",
    "UconDBTLSError",
    "UconDBAuthError",
    "UconDBNotFound",
    "UconDBIntegrityError",
    "KeyExists",
]


def open_ucondb(server_url, folder, object, **options):
    """http(s)://… → UconDB client; sqlite://<path> → the embedded store (the config's no-server default)."""
    scheme = server_url.split(":", 1)[0].lower()
    if scheme in ("http", "https"):
        return UconDB(server_url, folder, object, **options)
    if scheme == "sqlite" and server_url.startswith("sqlite://"):
        return EmbeddedUconDB(server_url[len("sqlite://") :], folder, object, **options)
    raise UconDBError(f"unsupported UconDB URL scheme {scheme!r}: use http://, https:// or sqlite://<path>")
