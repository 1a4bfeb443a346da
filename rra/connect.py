"""Open artdaqDB and UconDB from the config, once per process (doit workers are processes)."""
import logging

from .artdaqdb import open_artdaqdb
from .ucondb import open_ucondb

log = logging.getLogger("rra")
_open = {}


def artdaqdb(cfg):
    """The artdaqDB of the config.

    Legacy `use_tools: true` means the tools backend, except for a filesystemdb://
    archive: there the native backend does the same with locked index updates
    (concurrent bulkloaders lost index entries) and needs no C++ stack.
    """
    backend, uri = cfg["artdaq_db.backend"], cfg["artdaq_db.database_uri"]
    if backend == "auto" and cfg["artdaq_db.use_tools"]:
        if uri.startswith("filesystemdb://"):
            if ("use_tools",) not in _open:
                _open["use_tools",] = True
                log.info("artdaq_db.use_tools ignored for a filesystemdb:// archive: the native "
                         "backend writes it (set artdaq_db.backend: tools to insist)")
        else:
            backend = "tools"
    key = ("artdaqdb", cfg["artdaq_db.database_uri"], backend)
    if key not in _open:
        _open[key] = open_artdaqdb(cfg["artdaq_db.database_uri"], backend,
                                   cfg["artdaq_db.fcl_conf_dir"], cfg["artdaq_db.remote_host"])
    return _open[key]


def ucondb(cfg):
    """The UconDB client (or embedded store) of the config, TLS verified unless switched off."""
    key = ("ucondb", cfg["ucon_db.server_url"], cfg["ucon_db.folder_name"],
           cfg["ucon_db.object_name"])
    if key not in _open:
        if not cfg["ucon_db.verify_tls"] and cfg["ucon_db.server_url"].startswith("https"):
            log.warning("TLS verification to UconDB is switched off (ucon_db.verify_tls: false)")
        _open[key] = open_ucondb(
            cfg["ucon_db.server_url"], cfg["ucon_db.folder_name"], cfg["ucon_db.object_name"],
            user=cfg["ucon_db.writer_user"] or None,
            password=cfg["ucon_db.writer_password"] or None,
            timeout=cfg["ucon_db.timeout_seconds"], ca_bundle=cfg["ucon_db.ca_bundle"],
            verify_tls=cfg["ucon_db.verify_tls"], retries=cfg["app.run_process_retries"],
            retry_delay=cfg["app.retry_delay_seconds"])
    return _open[key]
