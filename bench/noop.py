"""The cron tick that finds nothing to do, over N archived --lite runs.

    python bench/noop.py 1000 10000 100000 [--real 10000] [--workers 2] [--cache DIR] [--archive-only]

Archives --real runs for real once (`doit -n WORKERS` into the embedded store,
app.batch_size runs per invocation; prints the time and the peak RSS of all processes
of that catch-up; cached under --cache; --archive-only stops there). Each size N is then
made of those runs, hard-linked under new run numbers with the same mtimes: the run
records and the work-dir targets, exactly the files a no-op looks at (not the
databases: a no-op never opens them). Prints the no-op `doit` time (best and median of
5) with its peak RSS, and one tick after a line was appended to one run's metadata.txt
(it must notice and rebuild just that run; its databases start empty in the replica).
"""

import argparse
import os
import shutil
import statistics
from pathlib import Path

from measure import DOIT, make_records, run, write_config


def archive(real, cache, workers=2):
    """A real archive of `real` finished runs, built once."""
    base = Path(cache) / ("real-%d" % real)
    base.mkdir(parents=True, exist_ok=True)
    cfg = write_config(base, base / "records")
    if not (base / "archived").exists():
        make_records(base / "records", real)
        total, peak, out = 0.0, 0.0, "wait for the next invocation"
        while "wait for the next invocation" in out:  # app.batch_size runs per invocation
            wall, rss, out = run(DOIT + ["-n", str(workers), "config=%s" % cfg])
            total, peak = total + wall, max(peak, rss)
        print(
            "%7d runs  archived for real with -n %d in %.0f s (%.1f ms/run), peak RSS %.0f MB"
            % (real, workers, total, 1000 * total / real, peak),
            flush=True,
        )
        (base / "archived").touch()
    return base


def link_tree(src, dst):
    """dst mirrors src: files hard-linked, directories with src's mtimes."""
    os.mkdir(dst)
    for entry in os.scandir(src):
        if entry.is_dir(follow_symlinks=False):
            link_tree(entry.path, os.path.join(dst, entry.name))
        else:
            os.link(entry.path, os.path.join(dst, entry.name))
    st = os.stat(src)
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))


def replica(base, real, n, cache):
    top = Path(cache) / ("noop-%d" % n)
    if top.exists():
        shutil.rmtree(top)
    (top / "records").mkdir(parents=True)
    (top / "work" / "runs").mkdir(parents=True)
    for r in range(1, n + 1):
        src = (r - 1) % real + 1
        link_tree(base / "records" / str(src), top / "records" / str(r))
        link_tree(base / "work" / "runs" / str(src), top / "work" / "runs" / str(r))
    return top, write_config(top, top / "records")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sizes", nargs="*", type=int, default=[1000, 10000, 100000])
    ap.add_argument("--real", type=int, default=10000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--cache", default="/tmp/rra-bench")
    ap.add_argument("--archive-only", action="store_true")
    args = ap.parse_args()
    base = archive(args.real, args.cache, args.workers)
    for n in [] if args.archive_only else args.sizes:
        top, cfg = replica(base, args.real, n, args.cache)
        first = run(DOIT + ["config=%s" % cfg])[2]
        assert ".  " not in first and "%d of %d runs" % (n, n) in first, first[-500:]
        samples = [run(DOIT + ["config=%s" % cfg]) for _ in range(5)]
        walls = [s[0] for s in samples]
        print(
            "%7d runs  no-op doit             best %.2f s  median %.2f s  peak RSS %.0f MB"
            % (n, min(walls), statistics.median(walls), max(s[1] for s in samples)),
            flush=True,
        )
        meta = top / "records" / str(n) / "metadata.txt"
        text = meta.read_bytes()
        meta.unlink()  # a private copy: the hard-linked original belongs to other runs too
        meta.write_bytes(text + b"Total events: 12345\n")
        wall, rss, out = run(DOIT + ["config=%s" % cfg])
        rebuilt = sorted({line.split(":")[1] for line in out.splitlines() if line.startswith(".  ")})
        print(
            "%7d runs  tick after a change    %.2f s  peak RSS %.0f MB  rebuilt runs: %s"
            % (n, wall, rss, ", ".join(rebuilt)),
            flush=True,
        )
        shutil.rmtree(top)


if __name__ == "__main__":
    main()
