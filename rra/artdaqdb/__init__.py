"""artdaq_database for run records: list, store and export runs, natively or through the C++ stack.

    db = open_artdaqdb('filesystemdb:///data/artdaqdb_archive')
    result = db.store(1000, 'standard', {'metadata.fcl': b'...', ...})   # StoreResult
    db.runs(); db.latest(1000); db.stored_at(1000); db.export(1000, out_dir)

Backends: `native` (pure Python filesystemdb, the default), `conftoolp` (the C++ SWIG module)
and `tools` (bulkloader/bulkdownloader, optionally on `remote_host` over ssh).

md5s are of each file's source bytes, as the legacy `hashes` entity recorded them: the caller
can tell a changed FHiCL set from the files alone (fhicl_md5s), runs archived by the legacy
archiver compare against their own hashes, and a fix in the exporter never makes every run
look changed. Every stored version carries a `hashes` entity for the whole set, so
RunState.md5 is known for all entities but those of legacy updates (None).
"""

from .errors import ArtdaqDBError
from .record import md5, parse_timestamp
from .runs import ArtdaqDB, Entry, RunState, StoreResult, entity_of, read_files
from .uri import redact, scheme

__all__ = [
    "ArtdaqDB",
    "ArtdaqDBError",
    "Entry",
    "RunState",
    "StoreResult",
    "BACKENDS",
    "open_artdaqdb",
    "entity_of",
    "fhicl_md5s",
    "parse_timestamp",
    "redact",
]

BACKENDS = ("auto", "native", "conftoolp", "tools")


def open_artdaqdb(database_uri, backend="auto", fcl_conf_dir=None, remote_host=None):
    """The ArtdaqDB serving database_uri: native for filesystemdb://, the C++ stack for mongodb://."""
    kind = scheme(database_uri)
    if backend not in BACKENDS:
        raise ArtdaqDBError("unknown backend %r; choose one of %s" % (backend, ", ".join(BACKENDS)), uri=database_uri)
    if backend == "auto":
        backend = "native" if kind == "filesystemdb" else "conftoolp"
    if kind == "mongodb" and backend in ("native", "conftoolp"):
        try:
            import conftoolp  # noqa: F401
        except ImportError as e:
            raise ArtdaqDBError(
                "a mongodb:// database is served only by backend conftoolp (the artdaq_database "
                "SWIG module, not importable here: %s) or backend tools (bulkloader/"
                "bulkdownloader, legacy use_tools: true); the native backend reads and writes "
                "filesystemdb:// only" % e,
                uri=database_uri,
            ) from None
        if backend == "native":
            raise ArtdaqDBError(
                "the native backend serves filesystemdb:// only; use backend conftoolp or tools for mongodb://",
                uri=database_uri,
            )
    if backend == "native":
        from .filesystem import FilesystemDB

        return FilesystemDB(database_uri, fcl_conf_dir)
    from . import adapters

    if backend == "conftoolp":
        return adapters.ConftoolpDB(database_uri, fcl_conf_dir)
    return adapters.ToolsDB(database_uri, fcl_conf_dir, remote_host)


def fhicl_md5s(files):
    """entity -> md5 of each file's source bytes: what StoreResult.md5 and RunState.md5 hold."""
    return {e: md5(data) for e, data in sorted(read_files(files).items()) if e != "schema"}
