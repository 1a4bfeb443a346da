"""fhiclize:<run> — the run record's files -> the run's FHiCL set and its manifest."""
from rra import fhiclset
from rra.actions import fail, run_step

GROUP = "fhiclize"
DOC = "turn every run record into its FHiCL set"


def task(cfg, layout, rec):
    """file_dep: every regular file of the record; target: the set's manifest."""
    if rec.error:
        return {"actions": [(fail, ["fhiclize", rec.run, rec.error])], "uptodate": [False]}
    return {
        "actions": [(run_step, ["fhiclize", rec.run, fhiclset.build, rec.run, str(rec.path),
                                str(layout.fhicl_dir(rec.run)), cfg["fhiclize_generate"]])],
        "file_dep": [str(f) for f in rec.files],
        "targets": [str(layout.fhicl_manifest(rec.run))],
    }
