"""fhiclize:R — the run record's files -> the run's FHiCL set and its manifest (rra.fhiclset)."""

from .. import fhiclset
from ..actions import fail, run_step

NAME = "fhiclize"
TITLE = "fhiclized"
DOC = "turn every run record into its FHiCL set"
UCONDB = False  # its action reads or writes UconDB (the pre-flight asks UconDB first)


def target(layout, run):
    return layout.fhicl_manifest(run)


def task(archive, rec):
    """file_dep: every regular file of the record, and the bytes fhiclize read of it; target: the
    set's manifest."""
    if rec.error:
        return {"actions": [(fail, [NAME, rec.run, rec.error])], "uptodate": [False]}
    layout = archive.layout
    fhicl_dir, stats = str(layout.fhicl_dir(rec.run)), str(layout.run_dir(rec.run) / fhiclset.STATS)
    return {
        "actions": [
            (run_step, [NAME, rec.run, fhiclset.build, rec.run, str(rec.path), fhicl_dir, archive.generate, stats])
        ],
        "file_dep": [str(f) for f in rec.files],
        # the MD5s of what was read, not what doit saw after the action (see fhiclset)
        "uptodate": [(fhiclset.record_unchanged, [fhicl_dir, str(rec.path), stats])],
        "targets": [str(target(layout, rec.run))],
    }
