"""blob:R — the run exported from artdaqDB, packed as the legacy blob (deterministic)."""

from .. import atomic, blob, markers
from ..actions import run_step

NAME = "blob"
TITLE = "blob packed"
DOC = "export every run from artdaqDB and pack its blob"
UCONDB = False  # its action reads or writes UconDB (the pre-flight asks UconDB first)


def target(layout, run):
    return layout.blob(run)


def task(archive, rec):
    return {
        "actions": [(run_step, [NAME, rec.run, pack, archive, rec.run])],
        "file_dep": [str(archive.layout.artdaqdb_marker(rec.run))],
        "targets": [str(target(archive.layout, rec.run))],
    }


def pack(archive, run, artdaqdb_marker=None, blob_path=None):
    """Export the run and pack it; Packed on is the newest version's stored-at time.

    The paths default to the run's own (rra recover --dry-run gives scratch ones).
    """
    from ..artdaqdb import parse_timestamp

    marker = markers.read(artdaqdb_marker or archive.layout.artdaqdb_marker(run))
    files = archive.artdaqdb().exported(run)
    data = blob.pack(run, files, parse_timestamp(marker["stored_at"]))
    atomic.write_bytes(blob_path or archive.layout.blob(run), data)
