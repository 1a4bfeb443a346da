"""Open artdaqDB and UconDB from the config, once per process (doit workers are processes)."""
import logging
import os
import sqlite3

# The libraries are imported when first opened: dodo.py imports this module on every
# cron tick, and a tick with nothing to do must not pay for requests and the FHiCL engine.

log = logging.getLogger("rra")
_open = {}   # what this process opened, by URI
_told = set()  # notices given once per process
_listed = {}  # UconDB's keys at the start of the invocation, by (url, folder, object)


def artdaqdb(cfg):
    """The artdaqDB of the config.

    Legacy `use_tools: true` means the tools backend, except for a filesystemdb://
    archive: there the native backend does the same with locked index updates
    (concurrent bulkloaders lost index entries) and needs no C++ stack.
    """
    from .artdaqdb import open_artdaqdb
    backend, uri = cfg["artdaq_db.backend"], cfg["artdaq_db.database_uri"]
    if backend == "auto" and cfg["artdaq_db.use_tools"]:
        if uri.startswith("filesystemdb://"):
            if "use_tools" not in _told:
                _told.add("use_tools")
                log.info("artdaq_db.use_tools ignored for a filesystemdb:// archive: the native "
                         "backend writes it (set artdaq_db.backend: tools to insist)")
        else:
            backend = "tools"
    key = ("artdaqdb", cfg["artdaq_db.database_uri"], backend)
    if key not in _open:
        db = open_artdaqdb(uri, backend, cfg["artdaq_db.fcl_conf_dir"],
                           cfg["artdaq_db.remote_host"])
        for line in db.sweep() if hasattr(db, "sweep") else ():
            log.info("artdaqDB %s: %s", db.safe_uri, line)
        _open[key] = db
    return _open[key]


def preload():
    """Import what the stages use, before doit forks its workers (-n N).

    The workers are forked from this process: importing once here spares each of
    them doing it again. Only worth it when some run has work to do.
    """
    from . import actions, artdaqdb, blob, fhicl, fhiclize, runfiles, ucondb  # noqa: F401
    from .artdaqdb import filesystem  # noqa: F401
    from .ucondb import client  # noqa: F401


def sweep(cfg):
    """Undo what a killed archiver left half written in a filesystemdb:// archive.

    Opening the database sweeps; this opens it at the start of an invocation only when
    the root lists a temp or intent file, so a tick with nothing to do stays cheap, and a
    tick that imports nothing still leaves the archive clean.
    """
    uri = cfg["artdaq_db.database_uri"]
    if not uri.startswith("filesystemdb://"):
        return
    try:
        names = os.listdir(uri[len("filesystemdb://"):].rstrip("/") or "/")
    except OSError:
        return  # not created yet, or unreadable: the import tasks say so
    if any(n.startswith((".rra-tmp.", ".rra-intent.")) for n in names):
        try:
            artdaqdb(cfg)
        except Exception as e:  # the import tasks report a database that cannot be opened
            log.warning("artdaqDB leftovers not swept: %s", e)


def ucondb(cfg, obj=None):
    """The UconDB client (or embedded store) of the config, opened once per process.

    obj: another object of the same folder (the run record files); one client each, and
    each answers the folder's digest challenge once.
    """
    from .ucondb import UconDBError
    key = ("ucondb",) + _ucondb_key(cfg, obj)
    if key not in _open:
        try:
            _open[key] = _open_ucondb(cfg, obj)
        except sqlite3.Error as e:
            raise UconDBError("cannot open the embedded store: %s (check ucon_db.server_url)" % e,
                              cfg["ucon_db.server_url"]) from None
    return _open[key]


def _ucondb_key(cfg, obj=None):
    return (cfg["ucon_db.server_url"], cfg["ucon_db.folder_name"], obj or cfg["ucon_db.object_name"])


def take_listing(cfg, obj=None):
    """Ask UconDB once what every key holds ({key: Meta}), for the stages of this invocation.

    Called in doit's parent before it forks its workers, so each inherits it; a worker
    without it (another start method) asks per run, which is slower but the same.
    The listing's own client is closed here: no connection is shared across the fork.
    """
    with _open_ucondb(cfg, obj) as db:
        versions = db.versions()
    _listed[_ucondb_key(cfg, obj)] = {m.key: m for m in versions if m.key is not None}
    return _listed[_ucondb_key(cfg, obj)]


def listed(cfg, obj=None):
    """The invocation's listing of UconDB keys (of obj, default the configuration object), or None."""
    return _listed.get(_ucondb_key(cfg, obj))


def _open_ucondb(cfg, obj=None):
    """The client warns on every run when TLS verification is switched off."""
    from .config import MissingSecret
    from .ucondb import open_ucondb
    from .urls import split_credentials
    # user:password@ in the URL may hold any character ('/', ' ', '@'): taken apart here
    url, url_user, url_password = split_credentials(cfg["ucon_db.server_url"])
    password = cfg["ucon_db.writer_password"]
    no_writer = password.reason if isinstance(password, MissingSecret) else None
    return open_ucondb(
        url, cfg["ucon_db.folder_name"], obj or cfg["ucon_db.object_name"],
        user=None if no_writer else cfg["ucon_db.writer_user"] or url_user or None,
        password=password or url_password or None, no_writer=no_writer,
        timeout=cfg["ucon_db.timeout_seconds"], ca_bundle=cfg["ucon_db.ca_bundle"],
        verify_tls=cfg["ucon_db.verify_tls"], retries=cfg["app.run_process_retries"],
        retry_delay=cfg["app.retry_delay_seconds"])
