"""files:<run> — every file of the run record -> UconDB's files object, validated -> marker.

Only when ucon_db.files_object is set. Up to date while the marker lists the record's
files with the sizes and mtimes they have now (stats only; what was read decides).
"""
from rra import recordfiles
from rra.actions import run_step

GROUP = "files"
DOC = "archive every run record's files as written (ucon_db.files_object)"


def task(cfg, layout, rec):
    marker = str(layout.files_marker(rec.run))
    return {
        "actions": [(run_step, ["files", rec.run, recordfiles.archive, cfg, rec.run, str(rec.path),
                                marker, rec.signature])],
        "uptodate": [(recordfiles.current, [str(rec.path), marker])],
        "meta": {"seal": (marker, rec.signature)},
        "targets": [marker],
    }
