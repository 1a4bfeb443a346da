"""One archive as its config describes it: where it works, what it stores into, each opened once.

Built once per process from the config (dodo.py, the rra command) and handed to every
stage. The dotted keys are read here and nowhere below: stages see typed settings and
ask the archive for its databases. Those are opened when first needed and kept on the
archive: doit's workers are forked from the process that built it, so each worker opens
its own, once. (A UconDB client is never opened in doit's parent, so no worker shares
a connection; the listing's client is closed before the fork.)
"""

import logging
import os
import sqlite3
from dataclasses import dataclass, field

from .layout import Layout

log = logging.getLogger("rra")


@dataclass(frozen=True)
class ArtdaqDBSettings:
    uri: str
    backend: str  # as configured ("auto": native for filesystemdb://, else conftoolp)
    fcl_conf_dir: str = None
    remote_host: str = None
    use_tools: bool = False  # legacy: the tools backend, except for a filesystemdb:// archive

    @property
    def filesystem_root(self):
        """The directory of a filesystemdb:// archive (None for another kind)."""
        if not self.uri.startswith("filesystemdb://"):
            return None
        return self.uri[len("filesystemdb://") :].rstrip("/") or "/"


@dataclass(frozen=True)
class UconDBSettings:
    url: str
    folder: str
    object: str  # the configuration blobs' object
    files_object: str = None  # the run record files' object (None: not archived)
    writer_user: str = None
    writer_password: str = field(default=None, repr=False)  # may be a config.MissingSecret
    timeout: float = 10
    ca_bundle: str = None
    verify_tls: bool = True
    retries: int = 2
    retry_delay: float = 3


class Archive:
    """The config's archive: layout, settings, and its artdaqDB and UconDB once opened."""

    def __init__(self, cfg):
        self.config = cfg  # the whole config, for what reports on the invocation (notify, metrics, page)
        self.path = cfg.path
        self.layout = Layout(cfg.work_dir)
        self.work_dir = self.layout.work_dir
        self.records_dir = cfg.run_records_dir
        self.generate = list(cfg["fhiclize_generate"])
        self.validate_blobs = cfg["app.validate_blobs"]
        self.settle_seconds = cfg["app.settle_seconds"]
        self.exclude_most_recent_run = cfg["app.exclude_most_recent_run"]
        self.batch_size = cfg["app.batch_size"]
        self.workers = cfg["app.parallel_workers"]
        self.lock_file = cfg["app.lock_file"]
        self.record_limits = {"files": cfg["app.max_files_per_run"], "bytes": cfg["app.max_bytes_per_run"]}
        self.artdaq = ArtdaqDBSettings(
            cfg["artdaq_db.database_uri"],
            cfg["artdaq_db.backend"],
            cfg["artdaq_db.fcl_conf_dir"],
            cfg["artdaq_db.remote_host"],
            cfg["artdaq_db.use_tools"],
        )
        self.ucon = UconDBSettings(
            cfg["ucon_db.server_url"],
            cfg["ucon_db.folder_name"],
            cfg["ucon_db.object_name"],
            cfg["ucon_db.files_object"],
            cfg["ucon_db.writer_user"],
            cfg["ucon_db.writer_password"],
            cfg["ucon_db.timeout_seconds"],
            cfg["ucon_db.ca_bundle"],
            cfg["ucon_db.verify_tls"],
            cfg["app.run_process_retries"],
            cfg["app.retry_delay_seconds"],
        )
        self._open = {}  # what this process opened
        self._listed = {}  # UconDB's keys at the start of the invocation, by object
        self._told = set()  # notices given once

    def __repr__(self):
        return "Archive(%s)" % self.path

    @property
    def stage_names(self):
        """The stages this archive runs (files only with ucon_db.files_object)."""
        from .stages import CHAIN, NAMES

        return NAMES if self.ucon.files_object else CHAIN

    def artdaqdb(self):
        """The artdaqDB, opened (and swept of what a killed writer left) once per process."""
        if "artdaqdb" not in self._open:
            from .artdaqdb import open_artdaqdb

            a = self.artdaq
            db = open_artdaqdb(a.uri, self._backend(), a.fcl_conf_dir, a.remote_host)
            for line in db.sweep() if hasattr(db, "sweep") else ():
                log.info("artdaqDB %s: %s", db.safe_uri, line)
            self._open["artdaqdb"] = db
        return self._open["artdaqdb"]

    def _backend(self):
        """Legacy `use_tools: true` means the tools backend, except for a filesystemdb:// archive:
        there the native backend does the same with locked index updates (concurrent
        bulkloaders lost index entries) and needs no C++ stack."""
        a = self.artdaq
        if a.backend != "auto" or not a.use_tools:
            return a.backend
        if a.filesystem_root is None:
            return "tools"
        if "use_tools" not in self._told:
            self._told.add("use_tools")
            log.info(
                "artdaq_db.use_tools ignored for a filesystemdb:// archive: the native "
                "backend writes it (set artdaq_db.backend: tools to insist)"
            )
        return "auto"

    def sweep(self):
        """Undo what a killed archiver left half written in a filesystemdb:// archive.

        Opening the database sweeps; this opens it at the start of an invocation only when
        the root lists a temp or intent file, so a tick with nothing to do stays cheap, and
        a tick that imports nothing still leaves the archive clean.
        """
        root = self.artdaq.filesystem_root
        if root is None:
            return
        try:
            names = os.listdir(root)
        except OSError:
            return  # not created yet, or unreadable: the import tasks say so
        if any(n.startswith((".rra-tmp.", ".rra-intent.")) for n in names):
            try:
                self.artdaqdb()
            except Exception as e:  # the import tasks report a database that cannot be opened
                log.warning("artdaqDB leftovers not swept: %s", e)

    def ucondb(self, obj=None):
        """The UconDB client (or embedded store) for obj (default: the configuration object).

        One client per object, opened once per process; each answers the folder's digest
        challenge once.
        """
        from .ucondb import UconDBError

        key = ("ucondb", obj or self.ucon.object)
        if key not in self._open:
            try:
                self._open[key] = self._open_ucondb(obj)
            except sqlite3.Error as e:
                raise UconDBError(
                    "cannot open the embedded store: %s (check ucon_db.server_url)" % e, self.ucon.url
                ) from None
        return self._open[key]

    def take_listing(self, obj=None):
        """Ask UconDB once what every key holds ({key: Meta}), for the stages of this invocation.

        Called in doit's parent before it forks its workers, so each inherits it; a worker
        without it (another start method) asks per run, which is slower but the same. The
        listing's own client is closed here: no connection is shared across the fork.
        """
        with self._open_ucondb(obj) as db:
            versions = db.versions()
        self._listed[obj or self.ucon.object] = {m.key: m for m in versions if m.key is not None}
        return self._listed[obj or self.ucon.object]

    def listed(self, obj=None):
        """The invocation's listing of obj's keys (default the configuration object), or None."""
        return self._listed.get(obj or self.ucon.object)

    def _open_ucondb(self, obj=None):
        from .config import MissingSecret
        from .ucondb import open_ucondb
        from .urls import split_credentials

        u = self.ucon
        # user:password@ in the URL may hold any character ('/', ' ', '@'): taken apart here
        url, url_user, url_password = split_credentials(u.url)
        password = u.writer_password
        no_writer = password.reason if isinstance(password, MissingSecret) else None
        return open_ucondb(
            url,
            u.folder,
            obj or u.object,
            user=None if no_writer else u.writer_user or url_user or None,
            password=password or url_password or None,
            no_writer=no_writer,
            timeout=u.timeout,
            ca_bundle=u.ca_bundle,
            verify_tls=u.verify_tls,
            retries=u.retries,
            retry_delay=u.retry_delay,
        )


def preload():
    """Import what the stages use, before doit forks its workers (-n N).

    The workers are forked from this process: importing once here spares each of
    them doing it again. Only worth it when some run has work to do.
    """
    from . import artdaqdb, blob, fhicl, fhiclize, runfiles, ucondb  # noqa: F401
    from .artdaqdb import filesystem  # noqa: F401
    from .ucondb import client  # noqa: F401
