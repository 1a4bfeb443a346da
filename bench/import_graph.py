"""Import speed through the doit graph: `doit import` of 500 new --lite runs into an
empty artdaqDB and into the real archive bench/noop.py built (10,000 runs by default).

    python bench/import_graph.py [--real 10000] [--cache /tmp/rra-bench]

Prints runs/s for both and the ratio (target: >= 2/3): artdaqdb:R tasks share index
writes with their neighbours, so the rate should not fall with the archive's size.
"""

import argparse
import shutil
import tempfile
from pathlib import Path

from measure import DOIT, make_records, run, write_config

NEW = 500


def import_rate(top, db=None):
    """runs/s of `doit import` for NEW fresh runs, into a copy of db (or an empty one)."""
    records = make_records(top / "records", NEW, first=1000000)
    if db is not None:
        shutil.copytree(db, top / "work" / "artdaqdb", symlinks=True)
    cfg = write_config(top, records)
    wall, rss, out = run(DOIT + ["import", "config=%s" % cfg])
    assert out.count(".  artdaqdb:") == NEW, out[-2000:]
    return NEW / wall, rss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--real", type=int, default=10000)
    ap.add_argument("--cache", default="/tmp/rra-bench")
    args = ap.parse_args()
    db = Path(args.cache) / ("real-%d" % args.real) / "work" / "artdaqdb"
    if not db.is_dir():
        raise SystemExit("run bench/noop.py first (it builds the real archive)")
    with tempfile.TemporaryDirectory(prefix="rra-import-") as tmp:
        empty, _ = import_rate(Path(tmp) / "empty")
        full, rss = import_rate(Path(tmp) / "full", db)
    print(
        "doit import of %d runs: %.1f runs/s into an empty archive, %.1f runs/s into one of "
        "%d runs (ratio %.2f), peak RSS %.0f MB" % (NEW, empty, full, args.real, full / empty, rss)
    )


if __name__ == "__main__":
    main()
