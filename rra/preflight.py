"""Pre-flight: what every run of an invocation needs, checked once at its start.

Without it, a missing schema.fcl, an artdaqDB that cannot be written or a UconDB that
does not answer fails each run alike: an ERROR and a FAILED line per run, per tick.
Here each is one line. The UconDB check is also the invocation's one /versions listing,
which spares every run its own lookup (rra.stages.ucondb.upload).
"""

import logging
import os

from . import breaker

log = logging.getLogger("rra")


def artdaqdb_problems(archive):
    """Lines saying why no run could be imported; empty if artdaqDB looks usable."""
    problems = []
    conf = archive.artdaq.fcl_conf_dir
    if conf and not os.path.isfile(os.path.join(conf, "schema.fcl")):
        problems.append(
            "artdaq_db.fcl_conf_dir %s holds no schema.fcl (point it at the directory of "
            "artdaq_database's schema.fcl, or remove the key to use the bundled one)" % conf
        )
    root = archive.artdaq.filesystem_root
    if root is not None:
        probe = os.path.join(root, ".rra-tmp.preflight.%d" % os.getpid())  # swept if left behind
        try:
            os.makedirs(root, exist_ok=True)
            with open(probe, "wb"):
                pass
            os.unlink(probe)
        except OSError as e:
            problems.append(
                "artdaqDB %s cannot be written: %s (check artdaq_db.database_uri and the "
                "directory's owner and permissions)" % (root, e.strerror or e)
            )
    return problems


def ucondb_problem(archive):
    """None if UconDB answers and its folder exists (and take the listing); else why not."""
    from .ucondb import UconDBError

    try:
        archive.take_listing()
        if archive.ucon.files_object:
            archive.take_listing(archive.ucon.files_object)
    except UconDBError as e:
        return str(e)
    return None


def check(archive, ucondb=True):
    """Run the checks at the start of an invocation with work to do.

    Returns the artdaqDB problems (the invocation should stop). A UconDB problem is
    logged once and trips the breaker: imports go on, uploads wait for the next tick.
    """
    breaker.reset(archive.work_dir)
    if archive.ucon.files_object is None:  # absent, not set empty: say once what it offers
        log.warning(
            "ucon_db.files_object is not set: only what artdaq_database keeps is archived, not the "
            "run record files as written (set it, e.g. to run_record_files, for `rra restore`)"
        )
    problems = artdaqdb_problems(archive)
    if ucondb and not problems:
        why = ucondb_problem(archive)
        if why:
            log.error("UconDB: %s; uploads wait for the next invocation", why)
            breaker.trip(archive.work_dir, why)
    return problems
