"""Cost of the graph itself: `doit list` and a no-op `doit` over N --lite run records.

    python bench/doit_load.py 1000 5000

Prints wall time and peak RSS of each command (the first full build is timed too).
Only the fhiclize stage runs, so no run is ever sealed: this is the cost of loading
the whole graph (five tasks per run), i.e. the worst case of a tick, when every run
changed. A sealed archive costs what bench/noop.py prints.
"""

import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAKE = ROOT / "tests" / "records.py"  # realistic run records


# Runs the command in a fresh parent so RUSAGE_CHILDREN is that command's peak alone.
WRAP = """import resource, subprocess, sys
p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
sys.stderr.write(p.stderr[-3000:])
print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def timed(cmd):
    """Wall seconds and peak RSS (MB) of one command."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", WRAP, *cmd], cwd=str(ROOT), capture_output=True, text=True)
    wall = time.perf_counter() - start
    code, rss = proc.stdout.split()
    if code not in ("0",):
        sys.exit("failed: %s\n%s" % (" ".join(cmd), proc.stderr))
    return wall, int(rss) / 1024.0


def bench(n, stage):
    with tempfile.TemporaryDirectory(prefix="rra-bench-") as tmp:
        tmp = Path(tmp)
        subprocess.run(
            [sys.executable, str(MAKE), str(tmp / "records"), "--first", "1", "--count", str(n), "--lite"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        cfg = tmp / "config.yaml"
        cfg.write_text(
            "app:\n  work_dir: work\n  log_file: null\n  batch_size: 0\nsource_files:\n"
            "  run_records_dir: records\nartdaq_db:\n"
            "  database_uri: filesystemdb://work/artdaqdb\nucon_db:\n"
            "  server_url: sqlite://work/u.sqlite\n  folder_name: f\n"
        )
        doit = [sys.executable, "-m", "doit", "-f", str(ROOT / "dodo.py")]
        var = "config=%s" % cfg
        rows = [
            ("full build (%s)" % stage, timed(doit + [stage, var])),
            ("doit list", timed(doit + ["list", var])),
            ("no-op doit (%s)" % stage, timed(doit + [stage, var])),
        ]
        for label, (wall, rss) in rows:
            print("%7d runs  %-24s %7.2f s  %6.0f MB peak RSS" % (n, label, wall, rss))
        sys.stdout.flush()


if __name__ == "__main__":
    stage = "fhiclize"
    sizes = [int(a) for a in sys.argv[1:] if a.isdigit()] or [1000, 5000]
    for n in sizes:
        bench(n, stage)
