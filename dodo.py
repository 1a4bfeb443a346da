"""rra's build graph for doit: load the config, ask rules/ for the tasks.

    doit                      archive everything that is out of date
    doit config=FILE -n 4     another config, four worker processes
    doit list / doit fhiclize / doit -a fhiclize:1234
"""
import gc
import sys

from doit import get_var

import rules
from rra import config, exitcodes, log
from rra.layout import Layout
from rra.reporter import Reporter

exitcodes.install()
gc.disable()  # task loading allocates many small objects; halves a no-op at scale

try:
    CFG = config.load(get_var("config", None))
except config.ConfigError as e:
    sys.stderr.write("rra: %s\n" % e)
    sys.exit(1)
log.setup(CFG)
LAYOUT = Layout(CFG.work_dir)
LAYOUT.work_dir.mkdir(parents=True, exist_ok=True)

DOIT_CONFIG = {
    "default_tasks": [stage.GROUP for stage in rules.STAGES],
    "dep_file": str(LAYOUT.dep_file),
    "backend": "sqlite3",
    "check_file_uptodate": "md5",
    "continue": True,
    "reporter": Reporter,
    "par_type": "process",
}


def task_rra():
    """every stage of every run"""
    yield from rules.tasks(CFG)
