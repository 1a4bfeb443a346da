"""The stages of a run, one module each, and STAGES: the one registry every part of rra reads.

CHAIN is the order data flows (run record -> FHiCL -> artdaqDB -> blob -> UconDB ->
validation), each stage needing the one before; APART stages read the record itself
(files: ucon_db.files_object). Each module declares NAME, TITLE (as the report says it),
DOC (as `doit list` says it), UCONDB (whether it talks to UconDB), target(layout, run), and
task(archive, record): the doit
task of one run, whose action is the module's own function.
"""

from . import artdaqdb, blob, files, fhiclize, ucondb, validate

STAGES = (fhiclize, artdaqdb, blob, ucondb, validate, files)
BY_NAME = {stage.NAME: stage for stage in STAGES}
NAMES = tuple(BY_NAME)
CHAIN = NAMES[:5]
APART = NAMES[5:]
IMPORT, MIGRATE = CHAIN[:2], CHAIN[2:]  # the legacy archiver's two halves (doit import / migrate)
TITLES = {stage.NAME: stage.TITLE for stage in STAGES}
USE_UCONDB = tuple(stage.NAME for stage in STAGES if stage.UCONDB)


def target(layout, stage, run):
    """The file that says stage is done for run."""
    return BY_NAME[stage].target(layout, run)
