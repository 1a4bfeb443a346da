"""validate:<run> — download the run's key and check it against the marker and the blob."""
from rra import migrating
from rra.actions import run_step

GROUP = "validate"
DOC = "download every uploaded run and check MD5, size and adler32"


def task(cfg, layout, rec):
    return {
        "actions": [(run_step, ["validate", rec.run, migrating.validate, cfg, rec.run,
                                str(layout.blob(rec.run)), str(layout.ucondb_marker(rec.run)),
                                str(layout.validated(rec.run)), cfg["app.validate_blobs"],
                                rec.signature])],
        "meta": {"seal": (str(layout.validated(rec.run)), rec.signature)},
        "file_dep": [str(layout.ucondb_marker(rec.run))],
        "targets": [str(layout.validated(rec.run))],
    }
