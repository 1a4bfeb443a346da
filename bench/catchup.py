"""Parallel catch-up: N --lite runs archived end to end against the UconDB test server.

    python bench/catchup.py [N] [--latency-ms 20] [--workers 1,2,4,8]

Prints runs/s, the speed-up over -n 1 and the peak total RSS for each worker count.
"""
import argparse
import tempfile
from pathlib import Path

from measure import DOIT, Server, make_records, run, write_config


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="?", type=int, default=200)
    ap.add_argument("--latency-ms", type=int, default=20)
    ap.add_argument("--workers", default="1,2,4,8")
    args = ap.parse_args()
    base = None
    with tempfile.TemporaryDirectory(prefix="rra-catchup-") as tmp:
        records = make_records(Path(tmp) / "records", args.runs)
        for n in [int(w) for w in args.workers.split(",")]:
            work = Path(tmp) / ("n%d" % n)
            work.mkdir()
            with Server(work / "server.sqlite", args.latency_ms) as server:
                cfg = write_config(work, records, server.url)
                wall, rss, _ = run(DOIT + ["-n", str(n), "config=%s" % cfg])
            rate = args.runs / wall
            base = base or rate
            print("%5d runs  -n %-2d  %7.1f s  %7.1f runs/s  x%.2f  %5.0f ms/run  "
                  "peak RSS %4.0f MB (all processes)"
                  % (args.runs, n, wall, rate, rate / base, 1000 * wall / args.runs, rss),
                  flush=True)


if __name__ == "__main__":
    main()
