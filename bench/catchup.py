"""Parallel catch-up: N --lite runs archived end to end against a UconDB server.

    python bench/catchup.py [N] [--latency-ms 20] [--workers 1,2,4,8] [--repeat 3]
    python bench/catchup.py 50 --real [--against REV] [--workers 1,2,4]

Prints runs/s and the peak total RSS of every trial, then the median runs/s of each
worker count and its speed-up over -n 1. Trials of different worker counts alternate,
so a slow spell of the (shared) machine does not fall on one count only.

--real uses the real UconDB 3.9.7 server from ../shared/reference/ucondb (installed into a
temp prefix, reset before each trial) instead of the test server, and also prints the
HTTP requests per run counted in the server's own log. --against REV runs a git revision
of rra in the same trials, alternating with this one (its folder gets one unrelated key
first, so that a revision from before the first-archive fix can run at all).
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from measure import ROOT, Server, make_records, run, write_config


def real_server():
    sys.path.insert(0, str(ROOT / "tests"))
    from real_ucondb import RealUconDB

    source = ROOT.parent / "shared" / "reference" / "ucondb"
    if not source.is_dir():
        sys.exit("--real needs the real UconDB in %s" % source)
    return RealUconDB(source)


def checkout(rev, where):
    """A worktree of rev at where (removed by the caller's temp dir)."""
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", "-f", str(where), rev],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return where


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="?", type=int, default=200)
    ap.add_argument("--latency-ms", type=int, default=20)
    ap.add_argument("--workers", default="1,2,4,8")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--real", action="store_true", help="the real UconDB server (../shared/reference)")
    ap.add_argument("--against", metavar="REV", help="also run this git revision, alternating")
    args = ap.parse_args()
    workers = [int(w) for w in args.workers.split(",")]
    real = real_server() if args.real else None
    with tempfile.TemporaryDirectory(prefix="rra-catchup-") as tmp:
        trees = {"this": ROOT}
        if args.against:
            trees[args.against] = checkout(args.against, Path(tmp) / "against")
        rates = {(t, n): [] for t in trees for n in workers}
        per_run = {(t, n): [] for t in trees for n in workers}
        records = make_records(Path(tmp) / "records", args.runs)
        try:
            for trial in range(args.repeat):
                for n in workers:
                    for name, tree in trees.items():
                        work = Path(tmp) / ("t%d-n%d-%s" % (trial, n, name.replace("/", "_")))
                        work.mkdir()
                        wall, rss, requests = trial_run(args, real, tree, work, records, n)
                        rates[name, n].append(args.runs / wall)
                        per_run[name, n].append(requests)
                        print(
                            "trial %d  %-8s %5d runs  -n %-2d  %7.1f s  %7.1f runs/s  %5.0f ms/run  "
                            "peak RSS %4.0f MB%s"
                            % (
                                trial + 1,
                                name[:8],
                                args.runs,
                                n,
                                wall,
                                args.runs / wall,
                                1000 * wall / args.runs,
                                rss,
                                "  %.2f HTTP requests/run" % requests if requests is not None else "",
                            ),
                            flush=True,
                        )
        finally:
            if real:
                real.remove()
            if args.against:
                subprocess.run(
                    ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(trees[args.against])],
                    stderr=subprocess.DEVNULL,
                )
    where = "the real UconDB server" if real else "the test server, %d ms latency" % args.latency_ms
    print("median of %d trials, %d runs, %s:" % (args.repeat, args.runs, where))
    base = statistics.median(rates["this", workers[0]])
    for n in workers:
        for name in trees:
            rate = statistics.median(rates[name, n])
            reqs = [r for r in per_run[name, n] if r is not None]
            print(
                "  %-8s -n %-2d  %7.1f runs/s  x%.2f over -n %d  %5.0f ms/run%s"
                % (
                    name[:8],
                    n,
                    rate,
                    rate / base,
                    workers[0],
                    1000 / rate,
                    "  %.2f HTTP requests/run" % statistics.median(reqs) if reqs else "",
                )
            )
    if args.against:
        for n in workers:
            old, new = (statistics.median(rates[t, n]) for t in (args.against, "this"))
            print("  -n %-2d  this revision is x%.2f the speed of %s" % (n, new / old, args.against))


def trial_run(args, real, tree, work, records, n):
    """(wall s, peak RSS MB, HTTP requests per run or None) of one catch-up."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    doit = [sys.executable, "-m", "doit", "-f", str(Path(tree) / "dodo.py")]
    if real is None:
        with Server(work / "server.sqlite", args.latency_ms) as server:
            cfg = write_config(work, records, server.url)
            wall, rss, _ = run(doit + ["-n", str(n), "config=%s" % cfg], env=env)
        return wall, rss, None
    real.reset()
    from rra.ucondb import open_ucondb

    open_ucondb(real.url, "run_records", "configuration", user=real.user, password=real.password).put(
        "seed", b"not a run\n", tags=["seed"]
    )
    cfg = write_config(work, records, real.url, user=real.user, password=real.password, folder="run_records")
    before = len(real.requests())
    wall, rss, _ = run(doit + ["-n", str(n), "config=%s" % cfg], env=env)
    return wall, rss, (len(real.requests()) - before) / args.runs


if __name__ == "__main__":
    main()
