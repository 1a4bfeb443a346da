"""Parallel catch-up: N --lite runs archived end to end against the UconDB test server.

    python bench/catchup.py [N] [--latency-ms 20] [--workers 1,2,4,8] [--repeat 3]

Prints runs/s and the peak total RSS of every trial, then the median runs/s of each
worker count and its speed-up over -n 1. Trials of different worker counts alternate,
so a slow spell of the (shared) machine does not fall on one count only.
"""
import argparse
import statistics
import tempfile
from pathlib import Path

from measure import DOIT, Server, make_records, run, write_config


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="?", type=int, default=200)
    ap.add_argument("--latency-ms", type=int, default=20)
    ap.add_argument("--workers", default="1,2,4,8")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    workers = [int(w) for w in args.workers.split(",")]
    rates = {n: [] for n in workers}
    with tempfile.TemporaryDirectory(prefix="rra-catchup-") as tmp:
        records = make_records(Path(tmp) / "records", args.runs)
        for trial in range(args.repeat):
            for n in workers:
                work = Path(tmp) / ("t%d-n%d" % (trial, n))
                work.mkdir()
                with Server(work / "server.sqlite", args.latency_ms) as server:
                    cfg = write_config(work, records, server.url)
                    wall, rss, _ = run(DOIT + ["-n", str(n), "config=%s" % cfg])
                rates[n].append(args.runs / wall)
                print("trial %d  %5d runs  -n %-2d  %7.1f s  %7.1f runs/s  %5.0f ms/run  "
                      "peak RSS %4.0f MB (all processes)"
                      % (trial + 1, args.runs, n, wall, args.runs / wall, 1000 * wall / args.runs, rss),
                      flush=True)
    base = statistics.median(rates[workers[0]])
    print("median of %d trials, %d runs, %d ms latency:" % (args.repeat, args.runs, args.latency_ms))
    for n in workers:
        rate = statistics.median(rates[n])
        print("  -n %-2d  %7.1f runs/s  x%.2f over -n %d  %5.0f ms/run"
              % (n, rate, rate / base, workers[0], 1000 / rate))


if __name__ == "__main__":
    main()
