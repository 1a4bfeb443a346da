"""The build graph: one module per kind of target, each yielding plain doit task dicts.

Rules only wire files to library calls; rra/ does the work. Every chain stays
inside one run, so a run's tasks never depend on another run's.
"""
from rra.discovery import scan
from rra.layout import Layout

from . import fhiclize

STAGES = (fhiclize,)


def tasks(cfg, records=None):
    """Every task of every discovered run: `<stage>:<run>`, grouped as `<stage>`."""
    layout = Layout(cfg.work_dir)
    if records is None:
        records = scan(cfg.run_records_dir, cfg["app.settle_seconds"],
                       cfg["app.exclude_most_recent_run"])
    for stage in STAGES:
        yield {"basename": stage.GROUP, "name": None, "doc": stage.DOC}
        for rec in records:
            task = stage.task(cfg, layout, rec)
            task.update(basename=stage.GROUP, name=str(rec.run))
            yield task
