"""`run_archiver.sh --dry-run`: every task that would run, from `doit list --all --status`.

doit's status (R: out of date) names only the first task of a run that runs: the later
stages look current until that task has rewritten their input. So once a stage of a run
runs, every later stage of that run is listed too. Forced tasks (--run R) all run.

    doit list --all --status ... | python -m rra.dryrun [--stages import] [--forced]
"""

import argparse
import sys

from .stages import APART, IMPORT
from .stages import CHAIN as ORDER

# files (APART) reads the record itself: it runs or not by its own status
STAGES = {"import": IMPORT, "migrate": ORDER, "all": ORDER + APART}


def would_run(lines, stages=ORDER + APART, forced=False):
    """[(run, stage)] in run order, then stage order, from doit's `list --all --status` lines."""
    have, first, apart = set(), {}, set()
    for line in lines:
        status, _, name = line.strip().partition(" ")
        stage, _, run = name.strip().partition(":")
        if stage not in ORDER + APART or not run.isdigit():
            continue
        run = int(run)
        have.add((run, stage))
        if status == "R" or forced:
            if stage in APART:
                apart.add((run, stage))
            else:
                first[run] = min(first.get(run, len(ORDER)), ORDER.index(stage))
    chain = {(run, stage) for run in first for stage in ORDER[first[run] :] if (run, stage) in have}
    return sorted(((r, s) for r, s in chain | apart if s in stages), key=lambda t: (t[0], (ORDER + APART).index(t[1])))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--stages", choices=sorted(STAGES), default="all")
    ap.add_argument("--forced", action="store_true", help="the listed tasks run even if up to date")
    a = ap.parse_args(argv)
    tasks = would_run(sys.stdin, STAGES[a.stages], a.forced)
    for run, stage in tasks:
        print("%s:%d" % (stage, run))
    runs = len({run for run, _ in tasks})
    print(
        "dry run: %d run%s, %d task%s would run (nothing was run)"
        % (runs, "" if runs == 1 else "s", len(tasks), "" if len(tasks) == 1 else "s")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
