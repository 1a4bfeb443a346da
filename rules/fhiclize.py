"""fhiclize:<run> — the run record's files -> the run's FHiCL set and its manifest."""
from rra import fhiclset
from rra.actions import fail, run_step

GROUP = "fhiclize"
DOC = "turn every run record into its FHiCL set"


def task(cfg, layout, rec):
    """file_dep: every regular file of the record, and the bytes fhiclize read of it; target: the
    set's manifest."""
    if rec.error:
        return {"actions": [(fail, ["fhiclize", rec.run, rec.error])], "uptodate": [False]}
    fhicl_dir, stats = str(layout.fhicl_dir(rec.run)), str(layout.run_dir(rec.run) / fhiclset.STATS)
    return {
        "actions": [(run_step, ["fhiclize", rec.run, fhiclset.build, rec.run, str(rec.path),
                                fhicl_dir, cfg["fhiclize_generate"], stats])],
        "file_dep": [str(f) for f in rec.files],
        # the MD5s of what was read, not what doit saw after the action (see fhiclset)
        "uptodate": [(fhiclset.record_unchanged, [fhicl_dir, str(rec.path), stats])],
        "targets": [str(layout.fhicl_manifest(rec.run))],
    }
