"""Import speed of the native artdaqDB backend: runs/s into an empty archive and into a full one.

    python bench/import_speed.py                 # 500 --lite runs; archive of 5,000 runs
    python bench/import_speed.py --big 20000     # the same against 20,000 archived runs
    python bench/import_speed.py --runs 200 --big 1000 --keep /tmp/bench

The legacy path (conftoolp, one index rewrite per document) took 0.58 s per run.
Target: the rate into the full archive is at least 2/3 of the rate into an empty one.
Run records come from tests/records.py --lite; each run's FHiCL set is
what rra.fhiclize makes of it (prepared before timing: only the store calls are timed).
Timed twice: one store() per run (what a per-run build target does), and store_many() with
--batch runs per call (one index rewrite per call, for bulk imports). The full archive is
filled with store_many, untimed.
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MAKE = ROOT / "tests" / "records.py"  # realistic run records

from rra.artdaqdb import open_artdaqdb  # noqa: E402
from rra.fhiclize import fhiclize_run  # noqa: E402

LEGACY_SECONDS_PER_RUN = 0.58


def records(out, first, count):
    """Lite run records first..first+count-1 under out."""
    subprocess.run(
        [sys.executable, str(MAKE), str(out), "--first", str(first), "--count", str(count), "--lite"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return [out / str(r) for r in range(first, first + count)]


def fhicl_sets(run_dirs):
    """(run, config name, {file: bytes}) per run, as the fhiclize stage hands them over."""
    out = []
    for d in run_dirs:
        result = fhiclize_run(d)
        out.append((int(d.name), result.config_name.replace("/", "_"), result.files))
    return out


def store_all(db, sets, batch=1):
    """Seconds to store every set: store() per run, or store_many() with `batch` runs per call."""
    start = time.perf_counter()
    for i in range(0, len(sets), batch):
        if batch == 1:
            db.store(*sets[i])
        else:
            db.store_many(sets[i : i + batch])
    return time.perf_counter() - start


def measure(work, name, timed, filler, batch):
    """(seconds into an empty archive, seconds into one already holding the filler runs)."""
    t_empty = store_all(open_artdaqdb("filesystemdb://%s" % (work / (name + "-empty"))), timed, batch)
    full = open_artdaqdb("filesystemdb://%s" % (work / (name + "-full")))
    t = time.perf_counter()
    store_all(full, filler, 200)
    print("  (filled an archive with %d runs in %.0f s)" % (len(filler), time.perf_counter() - t), flush=True)
    return t_empty, store_all(full, timed, batch)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=500, help="runs timed (default 500)")
    ap.add_argument("--big", type=int, default=5000, help="runs already in the full archive (default 5000; try 20000)")
    ap.add_argument("--batch", type=int, default=50, help="runs per store_many() call (default 50)")
    ap.add_argument("--keep", help="work directory to keep (default: a temp dir, removed)")
    args = ap.parse_args()
    work = Path(args.keep or tempfile.mkdtemp(prefix="rra-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        t = time.perf_counter()
        timed = fhicl_sets(records(work / "records", args.big + 1, args.runs))
        filler = fhicl_sets(records(work / "records", 1, args.big))
        print("prepared %d + %d FHiCL sets in %.1f s" % (args.runs, args.big, time.perf_counter() - t), flush=True)
        for label, batch in (("store() per run", 1), ("store_many(%d runs)" % args.batch, args.batch)):
            t_empty, t_full = measure(work, "batch%d" % batch, timed, filler, batch)
            ratio = t_empty / t_full
            print(
                "%-20s empty: %6.1f runs/s   archive of %d: %6.1f runs/s   ratio %.2f (target >= 0.67) %s"
                % (
                    label,
                    args.runs / t_empty,
                    args.big,
                    args.runs / t_full,
                    ratio,
                    "OK" if ratio >= 2 / 3 else "BELOW TARGET",
                )
            )
            print(
                "%-20s vs legacy %.2f s/run: %.0fx faster (empty), %.0fx (full)"
                % (
                    "",
                    LEGACY_SECONDS_PER_RUN,
                    LEGACY_SECONDS_PER_RUN * args.runs / t_empty,
                    LEGACY_SECONDS_PER_RUN * args.runs / t_full,
                ),
                flush=True,
            )
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
