"""The status page and the Prometheus textfile over a large archive: time and size.

    python bench/status_page.py [N ...] [--worst] [--keep DIR] [--screenshot PNG]

Makes a work dir of N runs with the files `rra report` looks at (the run records'
directories and metadata.txt, each stage's target, seals, failure records): sealed runs
with a few gaps, a failed run every 487, runs changed since archived, a tail of runs waiting and
in progress. --worst gives every run a state unlike its neighbours' (nothing collapses).
Prints, per N: report.collect + overview.extend, the page's rendering and atomic write
(with its failed-run pages), its size, the textfile's time and size, and how long
headless chromium takes to load, style and lay the page out (timed inside the browser).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rra import config, discovery, htmlpage, overview, prometheus, report  # noqa: E402
from rra.archive import Archive  # noqa: E402
from rra.layout import Layout  # noqa: E402

CHROMIUM = [
    "chromium",
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=1200,1400",
]
ERRORS = {
    "fhiclize": "metadata.txt is empty; retry once DAQInterface has written it, or restore it",
    "artdaqdb": "artdaqDB: store of 3 entities failed: No space left on device",
    "ucondb": "UconDB https://ucon.example/app: 503 Service Unavailable after 3 attempts",
    "validate": "UconDB key %d: adler32 0x1234 differs from the blob's 0x4321",
}


def state_of(run, n, first, worst):
    if worst:
        return ("sealed", "failed", "waiting", "gap", "changed", "partial")[run % 6]
    i = run - first
    if 5000 <= i < 5050 or 12000 <= i < 12003:
        return "gap"
    if i % 487 == 13:
        return "failed"
    if i % 1999 == 7:
        return "changed"
    if i >= n - 150:
        return "partial" if i < n - 120 else "waiting"
    return "sealed"


def make(top, n, worst, first=1000):
    """The archive's files, shaped as rra writes them (targets are empty files)."""
    records, work = top / "records", top / "work"
    layout = Layout(work)
    stages = ("fhiclize", "artdaqdb", "ucondb", "validate")  # where the failed ones fail
    for run in range(first, first + n):
        state = state_of(run, n, first, worst)
        if state == "gap":
            continue
        rec = records / str(run)
        rec.mkdir(parents=True)
        (rec / "metadata.txt").write_text("Config name: demo\n")
        targets = [layout.fhicl_manifest, layout.artdaqdb_marker, layout.blob, layout.ucondb_marker, layout.validated]
        if state == "waiting":
            targets = []
        elif state == "partial":
            targets = targets[:2]
        elif state == "failed":
            stage = stages[run % 4]
            targets = targets[: ("fhiclize", "artdaqdb", "blob", "ucondb", "validate").index(stage)]
            layout.run_dir(run).mkdir(parents=True)
            layout.failure(run, stage).write_text(
                json.dumps(
                    {
                        "run": run,
                        "stage": stage,
                        "time": "2026-12-01T%02d:%02d:00+0000" % (run % 24, run % 60),
                        "error": "[run %d] [%s] %s" % (run, stage, ERRORS[stage].replace("%d", str(run))),
                    }
                )
            )
        for target in targets:
            target(run).parent.mkdir(parents=True, exist_ok=True)
            target(run).write_text("{}")
        if state in ("sealed", "changed"):
            discovery.seal(layout.validated(run), discovery.signature(rec))
        if state == "changed":
            later = discovery.signature(rec) + 10**9
            os.utime(rec / "metadata.txt", ns=(later, later))
    cfg = top / "config.yaml"
    cfg.write_text(
        "app:\n  work_dir: work\nsource_files:\n  run_records_dir: records\n"
        "artdaq_db:\n  database_uri: filesystemdb://${app.work_dir}/artdaqdb\n"
        "ucon_db:\n  server_url: sqlite://${app.work_dir}/ucondb.sqlite\n"
        "  folder_name: test01\n  writer_password: bench-secret\n"
        "metrics:\n  prometheus_textfile: %s/rra.prom\n" % top
    )
    return config.load(cfg, env={})


def best(func, times=3):
    out, took = None, []
    for _ in range(times):
        t0 = time.perf_counter()
        out = func()
        took.append(time.perf_counter() - t0)
    return out, min(took)


# Loads the page in a frame and, once it is parsed, styled and laid out (scrollHeight forces
# the layout), puts the milliseconds since the harness started into its title.
HARNESS = """<!DOCTYPE html><html><head><title>-</title></head><body><script>
const t0 = performance.now();
function done(f) { const h = f.contentDocument.documentElement.scrollHeight;
  document.title = (performance.now() - t0).toFixed(1) + " ms, " + h + " px"; }
</script><iframe src="%s" onload="done(this)" style="width:1200px;height:900px"></iframe>
</body></html>"""


def chromium(url, profile, *args):
    out = subprocess.run(
        CHROMIUM + ["--user-data-dir=%s" % profile, *args, url], check=True, capture_output=True, text=True, timeout=120
    )
    return out.stdout


def layout_ms(harness, profile):
    dom = chromium(harness.as_uri(), profile, "--dump-dom", "--allow-file-access-from-files")
    title = dom.split("<title>", 1)[1].split("</title>", 1)[0]
    return float(title.split()[0]), title


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sizes", nargs="*", type=int, default=[20000])
    ap.add_argument("--worst", action="store_true")
    ap.add_argument("--keep", help="build under this dir and keep it")
    ap.add_argument("--screenshot", help="keep the screenshot of the (last) page here")
    args = ap.parse_args()
    for n in args.sizes:
        top = Path(args.keep or tempfile.mkdtemp(prefix="rra-page-")) / ("n%d" % n)
        if top.exists():
            shutil.rmtree(top)
        top.mkdir(parents=True)
        t0 = time.perf_counter()
        cfg = make(top, n, args.worst)
        made = time.perf_counter() - t0
        rep, t_collect = best(lambda: overview.extend(report.collect(Archive(cfg)), cfg))
        index = top / "www" / "index.html"
        pages, t_write = best(lambda: htmlpage.write(rep, index))
        _, t_render = best(lambda: htmlpage.render(rep, linked=set(pages)))
        past = {"invocations": [], "last_success": None}
        _, t_prom = best(lambda: prometheus.write_textfile(Archive(cfg), past))
        known = overview.expand(rep["sealed"])  # what the reporter knows from loading
        _, t_known = best(lambda: prometheus.write_textfile(Archive(cfg), past, sealed=known))
        harness = top / "www" / "harness.html"
        harness.write_text(HARNESS % "index.html")
        took = [layout_ms(harness, top / "chr") for _ in range(5)]
        png = args.screenshot or str(top / "shot.png")
        chromium(index.as_uri(), top / "chr", "--screenshot=%s" % png)
        print(
            "%6d runs%s (made in %.0f s): %d strip spans, %d rows"
            % (n, " worst case" if args.worst else "", made, len(rep["strip"]), len(htmlpage.strip_rows(rep["strip"])))
        )
        print(
            "   collect + extend %.2f s; render %.3f s; write with %d run pages %.2f s"
            % (t_collect, t_render, len(pages), t_write)
        )
        print(
            "   page %.0f kB (%d run pages, %.0f kB in all)"
            % (
                index.stat().st_size / 1024,
                len(pages),
                sum(p.stat().st_size for p in (top / "www" / "runs").glob("*.html")) / 1024,
            )
        )
        print(
            "   textfile %d bytes: %.2f s; at the end of an invocation (sealed runs known) "
            "%.2f s" % ((top / "rra.prom").stat().st_size, t_prom, t_known)
        )
        print(
            "   chromium: parsed, styled and laid out in %.0f ms (median of 5; %s)"
            % (statistics.median(t for t, _ in took), took[0][1])
        )
        if not args.keep:
            shutil.rmtree(top.parent)


if __name__ == "__main__":
    main()
