"""Import speed through the doit graph: 500 new --lite runs into an empty archive and
into one already holding N runs (the archives bench/noop.py builds and caches).

    python bench/import_graph.py 20000 [--cache /tmp/rra-bench]

Prints runs/s of `doit import` for both and the ratio (target: >= 2/3).
"""
import argparse
import shutil
import tempfile
from pathlib import Path

from measure import DOIT, make_records, run, write_config

NEW = 500


def import_rate(base, first):
    """runs/s of `doit import` for NEW fresh runs added to base's records."""
    records = base / "records"
    extra = make_records(base / ("new-%d" % first), NEW, first=first)
    for d in extra.iterdir():
        shutil.copytree(d, records / d.name)
    cfg = write_config(base, records)
    wall, rss, out = run(DOIT + ["import", "config=%s" % cfg])
    assert out.count(".  artdaqdb:") == NEW, out[-2000:]
    return NEW / wall, rss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("size", type=int, nargs="?", default=20000)
    ap.add_argument("--cache", default="/tmp/rra-bench")
    args = ap.parse_args()
    full = Path(args.cache) / ("noop-%d" % args.size)
    if not (full / "archived").exists():
        raise SystemExit("run bench/noop.py %d first (it builds the archive)" % args.size)
    with tempfile.TemporaryDirectory(prefix="rra-import-") as tmp:
        base = Path(tmp)
        (base / "records").mkdir()
        empty, _ = import_rate(base, 10 ** 7)
    scratch = Path(args.cache) / ("import-%d" % args.size)
    if scratch.exists():
        shutil.rmtree(scratch)
    shutil.copytree(full, scratch, symlinks=True)
    try:
        into_full, rss = import_rate(scratch, 10 ** 7)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print("doit import of %d runs: %.1f runs/s into an empty archive, %.1f runs/s into one of "
          "%d runs (ratio %.2f), peak RSS %.0f MB" % (NEW, empty, into_full, args.size,
                                                      into_full / empty, rss))


if __name__ == "__main__":
    main()
