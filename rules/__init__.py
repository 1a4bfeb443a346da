"""The build graph: the stage registry (rra.stages) turned into plain doit task dicts.

Each stage module declares its task of one run (target, dependencies, action); this
loop finds the runs, leaves sealed ones out, shares store batches, and names the tasks
`<stage>:<run>` in groups `<stage>`. Every chain stays inside one run, so a run's tasks
never depend on another run's.
"""

import logging

from rra.discovery import scan
from rra.stages import IMPORT, NAMES, STAGES, USE_UCONDB, files, fhiclize

GROUPS = set(NAMES)
ALIASES = {
    "import": ("fhiclize + artdaqdb for every run", list(IMPORT)),
    "migrate": ("blob + ucondb + validate for every run (importing what is missing)", ["validate"]),
}
USE_UCONDB = set(USE_UCONDB) | {"migrate"}  # groups whose tasks reach UconDB (for the pre-flight)
# validate:R pulls in R's whole chain; files:R (when ucon_db.files_object is set) archives
# the record's originals; fhiclize then adds the runs whose record could not even be read
# (they have no later stages).
DEFAULT = ["validate", "files", "fhiclize"]
BATCH = 200  # runs that may share one artdaqDB index write (see rra.stages.artdaqdb.store)
log = logging.getLogger("rra")


class Batch:
    """Runs of one invocation that may share one artdaqDB store; shared by their tasks (one object).

    Batches are interleaved (every k-th run), not runs in a row: doit -n 8 starts
    neighbouring runs' tasks together, and those then store different batches in
    parallel instead of waiting for one task to store them all.
    """

    def __init__(self, records):
        self.runs = tuple(r.run for r in records)
        self.dirs = {r.run: str(r.path) for r in records}


def tasks(archive, forced=(), full=False, counts=None, workers=1):
    """Every task of every run that may need work: `<stage>:<run>`, grouped as `<stage>`.

    Sealed runs (validated from the record exactly as it is now) get no tasks:
    that keeps a cron tick over 100k runs cheap. forced runs and full=True
    load everything, so doit can still check or force any run. workers: doit's
    worker processes, each of which should have a store batch of its own.
    """
    runs_dir = str(archive.layout.runs_dir)
    keep_files = bool(archive.ucon.files_object)
    if full:
        seal_path = None
    elif keep_files:  # sealed only once the originals are archived too
        seal_path = ("{0}/{{0}}/validated.md5\0{0}/{{0}}/files.json".format(runs_dir)).format
    else:
        seal_path = "{}/{{}}/validated.md5".format(runs_dir).format
    records = scan(
        archive.records_dir,
        archive.settle_seconds,
        archive.exclude_most_recent_run,
        forced=set(forced),
        seal_path=seal_path,
        limits=archive.record_limits,
    )
    sealed_runs = {r.run for r in records if r.sealed}
    sealed = len(sealed_runs)
    records = [r for r in records if not r.sealed]
    cap, later = archive.batch_size, []
    if cap and len(records) > cap:
        later = [r for r in records if r.run not in forced][cap:]  # forced runs never wait
    if later:
        log.info(
            "app.batch_size=%d: %d more runs wait for the next invocation (from run %d)", cap, len(later), later[0].run
        )
        waiting = {r.run for r in later}  # (a set: comparing records themselves is quadratic and slow)
        records = [r for r in records if r.run not in waiting]
    if counts is not None:
        counts.update(
            runs=len(records) + sealed + len(later), sealed=sealed, deferred=len(later), sealed_runs=sealed_runs
        )  # (for the metrics)
    # Batches of at most BATCH runs, interleaved, and at least one per worker.
    spread = max(-(-len(records) // BATCH), min(workers, len(records)))
    for i in range(spread):
        batch = Batch([r for r in records[i::spread] if not r.error])
        for rec in records[i::spread]:
            rec.batch = batch
    for stage in STAGES:
        yield {"basename": stage.NAME, "name": None, "doc": stage.DOC}
        if stage is files and not keep_files:
            continue
        for rec in records:
            if rec.error and stage is not fhiclize:
                continue  # fhiclize:R alone reports an unreadable record
            task = stage.task(archive, rec)
            task.update(basename=stage.NAME, name=str(rec.run))
            yield task
    for name, (doc, groups) in ALIASES.items():
        yield {"basename": name, "actions": None, "task_dep": groups, "doc": doc}
