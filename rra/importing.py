"""The import stage's action: a run's FHiCL set -> artdaqDB, then its marker."""
import logging

from . import connect, fhiclset, markers
from .artdaqdb import fhicl_md5s, redact

log = logging.getLogger("rra")


def store(cfg, run, fhicl_dir, marker_path):
    """Store what changed in the run's FHiCL set; the marker follows the durable documents."""
    manifest, files = fhiclset.read(fhicl_dir)
    db = connect.artdaqdb(cfg)
    result = db.store(run, manifest["config_name"], files)
    if result.changed:
        log.info("[run %s] [artdaqdb] stored %s: %s", run, result.version, ", ".join(result.stored))
    else:
        log.info("[run %s] [artdaqdb] already archived as it is", run)
    write_marker(cfg, db.latest(run), result.md5, marker_path)


def matches(cfg, run, fhicl_dir):
    """The run's artdaqDB state if it holds exactly this FHiCL set (for recover), else None."""
    state = connect.artdaqdb(cfg).latest(run)
    if state is None:
        return None
    ours = fhicl_md5s(fhiclset.read(fhicl_dir)[1])
    return state if state.md5 == ours else None


def write_marker(cfg, state, md5s, marker_path):
    markers.write(marker_path, {
        "database_uri": redact(cfg["artdaq_db.database_uri"]),
        "configuration": state.configuration,
        "version": state.version,
        "stored_at": state.stored_at,
        "entities": md5s,
    })
