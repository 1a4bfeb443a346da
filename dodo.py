"""rra's build graph for doit: load the config as one Archive, ask rules/ for the tasks.

doit                      archive everything that is out of date
doit config=FILE -n 4     another config, four worker processes
doit list / doit import / doit migrate / doit -a validate:1234
"""

import gc
import os
import sys

from doit import get_initial_workdir, get_var

import rules
from rra import archive, config, discovery, doitdb, exitcodes, log, preflight, reporter, shutdown
from rra.lock import ArchiverLock, LockedError

gc.disable()  # task loading allocates many small objects; halves a no-op at scale
exitcodes.install()
shutdown.install()
doitdb.install()

# doit commands that only read: no lock, so `doit list` works while cron archives.
# (`strace` runs tasks, so it takes the lock like a build.)
READ_ONLY = {"list", "info", "help", "dumpdb", "tabcompletion"}


def fail(message):
    sys.stderr.write("rra: %s\n" % message)
    sys.exit(exitcodes.FAILED)


log.setup(verbose=bool(get_var("verbose", "")))  # so config warnings are shown as such
if "clean" in sys.argv[1:]:
    fail(
        "doit clean removes nothing here: rra's targets are the archive's record (artdaqDB and "
        "UconDB keep what was stored). To rebuild a run: run_archiver.sh --run R (or doit -a "
        "validate:R); to rebuild the work dir from the databases: rra recover"
    )
try:
    CFG = config.load(get_var("config", None), cwd=get_initial_workdir())  # doit chdirs to dodo.py's dir
    if get_var("validate", ""):
        CFG.values["app.validate_blobs"] = True  # run_archiver.sh --validate
    ARCHIVE = archive.Archive(CFG)
    ARCHIVE.work_dir.mkdir(parents=True, exist_ok=True, mode=0o750)  # not world-readable
    doitdb.prepare(ARCHIVE.layout.dep_file)
    log.setup(CFG, verbose=bool(get_var("verbose", "")))
except config.ConfigError as e:
    fail(e)
except OSError as e:
    fail("cannot create %s: %s (check app.work_dir and app.log_file)" % (e.filename, e.strerror))
if not CFG.run_records_dir.is_dir():
    fail(
        "source_files.run_records_dir %s is not a readable directory (check the config %s)"
        % (CFG.run_records_dir, CFG.path)
    )

# rra recover runs `doit reset-dep` as its child while it holds the lock itself.
CHILD_OF_HOLDER = os.environ.get("RRA_LOCK_PARENT") == str(os.getppid())
if not READ_ONLY.intersection(sys.argv[1:]) and not CHILD_OF_HOLDER:
    try:
        LOCK = ArchiverLock(ARCHIVE.lock_file, ARCHIVE.work_dir).acquire("doit")
    except LockedError as e:
        fail(e)
    except OSError as e:  # e.g. a full disk: the next tick after space is freed goes on
        from rra.actions import describe

        fail("cannot take the archiver lock %s: %s" % (ARCHIVE.lock_file, describe(e)))
    ARCHIVE.sweep()

COUNTS = {}  # filled while tasks load: runs found, runs sealed
DOIT_CONFIG = {
    "default_tasks": rules.DEFAULT,
    "dep_file": str(ARCHIVE.layout.dep_file),
    "backend": "sqlite3",
    "check_file_uptodate": "md5",
    "continue": True,
    "reporter": reporter.for_archive(ARCHIVE, COUNTS, quiet=bool(get_var("quiet", ""))),
    "par_type": "process",
    "num_process": ARCHIVE.workers if ARCHIVE.workers > 1 else 0,
}


# Runs named on the command line (doit validate:1234, doit forget fhiclize:1234) are
# always loaded, sealed or not; `doit full=1` loads every run.
FORCED = {discovery.run_number(a.partition(":")[2]) for a in sys.argv[1:] if a.partition(":")[0] in rules.GROUPS} - {
    None
}


def workers(argv, default):
    """doit's worker processes (-n N, -nN, --process N, --process=N), else the config's."""
    for i, a in enumerate(argv):
        if a in ("-n", "--process"):
            value = argv[i + 1] if i + 1 < len(argv) else ""
        elif a.startswith("--process="):
            value = a.partition("=")[2]
        elif a.startswith("-n"):
            value = a[2:]
        else:
            continue
        if value.isdigit():
            return max(int(value), 1)
    return default


WORKERS = workers(sys.argv[1:], ARCHIVE.workers)
# doit commands that run no task (besides the read-only ones)
NO_TASKS = READ_ONLY | {"forget", "ignore", "reset-dep", "clean", "auto"}


def runs_tasks(argv):
    """True for a doit command that runs tasks (`doit`, `doit run`, `doit validate:12`...)."""
    return not NO_TASKS.intersection(argv)


def needs_ucondb(argv):
    """Whether the tasks asked for reach UconDB (plain `doit` does; `doit import` does not)."""
    groups = [a.partition(":")[0] for a in argv]
    asked = [g for g in groups if g in rules.GROUPS or g in rules.ALIASES]
    return not asked or any(g in rules.USE_UCONDB for g in asked)


def task_rra():
    """every stage of every run"""
    yield from rules.tasks(ARCHIVE, FORCED, full=bool(get_var("full", "")), counts=COUNTS, workers=WORKERS)
    if COUNTS["runs"] > COUNTS["sealed"] + COUNTS["deferred"] and runs_tasks(sys.argv[1:]):
        archive.preload()  # runs to work on: import once, before doit forks its workers
        problems = preflight.check(ARCHIVE, ucondb=needs_ucondb(sys.argv[1:]))
        if problems:
            fail("; ".join(problems))
    # Loading is done: collect garbage again while tasks run (a worker would otherwise grow
    # with every run it handles), but never scan the graph itself (nor copy its pages into
    # the forked workers by scanning it).
    gc.freeze()
    gc.enable()
