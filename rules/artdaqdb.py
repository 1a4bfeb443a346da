"""artdaqdb:<run> — the FHiCL set -> artdaqDB (what changed, as a new version) -> marker."""
from rra import importing
from rra.actions import run_step

GROUP = "artdaqdb"
DOC = "store every run's FHiCL set in artdaqDB"


def task(cfg, layout, rec):
    return {
        "actions": [(run_step, ["artdaqdb", rec.run, importing.store, cfg, rec.run,
                                str(layout.fhicl_dir(rec.run)),
                                str(layout.artdaqdb_marker(rec.run)), rec.batch.runs,
                                rec.batch.dirs])],
        "file_dep": [str(layout.fhicl_manifest(rec.run))],
        "targets": [str(layout.artdaqdb_marker(rec.run))],
    }
