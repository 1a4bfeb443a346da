"""ucondb:<run> — the blob -> UconDB under key=run (adopted if already there) -> marker."""
from rra import migrating
from rra.actions import run_step

GROUP = "ucondb"
DOC = "upload every run's blob to UconDB"


def task(cfg, layout, rec):
    return {
        "actions": [(run_step, ["ucondb", rec.run, migrating.upload, cfg, rec.run,
                                str(layout.blob(rec.run)), str(layout.ucondb_marker(rec.run))])],
        "file_dep": [str(layout.blob(rec.run))],
        "targets": [str(layout.ucondb_marker(rec.run))],
    }
