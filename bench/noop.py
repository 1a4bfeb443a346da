"""The cron tick that finds nothing to do, over N archived --lite runs.

    python bench/noop.py 1000 10000 100000 [--cache DIR]

For each N: builds (once, cached under --cache) N run records and archives them for
real with `doit -n 2` into the embedded store, then times a no-op `doit` (best and
median of 5) with its peak RSS, and one tick after a stop time was appended to one
running run (it must notice the change and rebuild just that run).
"""
import argparse
import statistics
import subprocess
import sys
from pathlib import Path

from measure import DOIT, MAKE, make_records, run, write_config


def archive(n, cache):
    base = Path(cache) / ("noop-%d" % n)
    base.mkdir(parents=True, exist_ok=True)
    records = make_records(base / "records", n, extra=["--running", "1"])
    cfg = write_config(base, records)
    if not (base / "archived").exists():
        total, peak, out = 0.0, 0.0, "wait for the next invocation"
        while "wait for the next invocation" in out:  # app.batch_size runs per invocation
            wall, rss, out = run(DOIT + ["-n", "2", "config=%s" % cfg])
            total, peak = total + wall, max(peak, rss)
        print("%7d runs  archived in %.0f s (%.1f ms/run), peak RSS %.0f MB"
              % (n, total, 1000 * total / n, peak), flush=True)
        (base / "archived").touch()
    return base, records, cfg


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sizes", nargs="*", type=int, default=[1000, 10000, 100000])
    ap.add_argument("--cache", default="/tmp/rra-bench")
    args = ap.parse_args()
    for n in args.sizes:
        base, records, cfg = archive(n, args.cache)
        assert ".  " not in run(DOIT + ["config=%s" % cfg])[2], "not a no-op"
        samples = [run(DOIT + ["config=%s" % cfg]) for _ in range(5)]
        walls = [s[0] for s in samples]
        print("%7d runs  no-op doit      best %.2f s  median %.2f s  peak RSS %.0f MB"
              % (n, min(walls), statistics.median(walls), max(s[1] for s in samples)),
              flush=True)
        # a running run gets its stop time: the next tick must rebuild exactly that run
        victim = max(int(p.name) for p in records.iterdir())
        subprocess.run([sys.executable, str(MAKE), str(records), "--stop", str(victim)],
                       check=True, stdout=subprocess.DEVNULL)
        wall, rss, out = run(DOIT + ["config=%s" % cfg])
        rebuilt = sorted({l.split(":")[1] for l in out.splitlines() if l.startswith(".  ")})
        print("%7d runs  tick after a stop time  %.2f s  peak RSS %.0f MB  rebuilt runs: %s"
              % (n, wall, rss, ", ".join(rebuilt)), flush=True)


if __name__ == "__main__":
    main()
