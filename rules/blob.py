"""blob:<run> — the run exported from artdaqDB, packed as the legacy blob (deterministic)."""
from rra import migrating
from rra.actions import run_step

GROUP = "blob"
DOC = "export every run from artdaqDB and pack its blob"


def task(cfg, layout, rec):
    return {
        "actions": [(run_step, ["blob", rec.run, migrating.pack, cfg, rec.run,
                                str(layout.artdaqdb_marker(rec.run)), str(layout.blob(rec.run))])],
        "file_dep": [str(layout.artdaqdb_marker(rec.run))],
        "targets": [str(layout.blob(rec.run))],
    }
