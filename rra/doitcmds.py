"""doit commands replaced for rra (entry points `doit.COMMAND` in pyproject.toml).

`doit dumpdb` only reads dbm files, and rra keeps doit's state in sqlite3 at
<work_dir>/.doit.db: this one finds it from the config and prints it the same way.
"""

import json
import os
import pprint
import sqlite3
from pathlib import Path

from doit import get_var
from doit.cmd_base import Command, opt_depfile
from doit.exceptions import InvalidCommand


class DumpDB(Command):
    """dump doit's state (sqlite3 at <work_dir>/.doit.db, or --db-file)"""

    doc_purpose = "dump doit's state: one line per task (rra: the sqlite3 file in the work dir)"
    doc_usage = "[config=FILE]"
    doc_description = None
    cmd_options = (opt_depfile,)

    def execute(self, opt_values, pos_args):
        path = opt_values["dep_file"]
        if path == opt_depfile["default"]:  # not given: the config's work dir
            from . import config
            from .layout import Layout

            try:
                cfg = config.load(get_var("config", None), cwd=os.getcwd())
            except config.ConfigError as e:
                raise InvalidCommand("rra: %s" % e) from None
            path = str(Layout(cfg.work_dir).dep_file)
        if not Path(path).is_file():
            raise InvalidCommand("rra: no doit state at %s (nothing archived yet?)" % path)
        print("doit state (sqlite3): %s" % path)
        try:
            with sqlite3.connect("file:%s?mode=ro" % path, uri=True) as conn:
                rows = conn.execute("SELECT task_id, task_data FROM doit ORDER BY task_id").fetchall()
        except sqlite3.DatabaseError as e:
            raise InvalidCommand("rra: %s is not doit's sqlite3 state (%s)" % (path, e)) from None
        for task, data in rows:
            print("%s -> %s" % (task, pprint.pformat(json.loads(data), indent=4, width=100)))
        return 0
