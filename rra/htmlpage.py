"""`rra report --html FILE`: the status page, one self-contained file to glance at.

Inline CSS only: no script, font, image or style is fetched from anywhere, so it works
opened from a file or copied by cron to an internal web server. It is written atomically
(a web server never serves half a page). Named index.html, it gets one small page per
failed run beside it (runs/<R>.html), linked from the strip: written before the index,
and the pages of runs that no longer fail removed after it, so no link is ever dead.
"""

import html
import json
import os
import re
import tempfile
import time
from pathlib import Path

from . import atomic, overview
from .layout import Layout
from .report import STAGES, TITLES, spell
from .urls import redact

ROW = 100  # run numbers per row of the strip
FAILURES_LISTED = 50  # newest failures in the table (all of them are on the strip)
RUN_PAGES = 500  # newest failed runs that get a page of their own
INVOCATIONS_LISTED = 20

COLORS = {
    "sealed": "#2e7d32",
    "archived": "#81c784",
    "partial": "#42a5f5",
    "waiting": "#ffb300",
    "changed": "#8e24aa",
    "gone": "#616161",
    "failed": "#d32f2f",
    "gap": "#e0e0e0",
}

CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
 margin:0 auto;padding:16px 24px;max-width:1180px;color:#222;background:#fafafa}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:22px 0 8px;border-bottom:1px solid #ddd}
.meta{color:#666;font-size:12px}.meta code{font-size:12px}
.banner{padding:10px 14px;border-radius:6px;margin:12px 0;font-size:15px;color:#fff}
.ok{background:#2e7d32}.warn{background:#b26a00}.bad{background:#c62828}
.nums{display:flex;flex-wrap:wrap;gap:10px;margin:8px 0}
.num{background:#fff;border:1px solid #ddd;border-radius:6px;padding:6px 12px;min-width:110px}
.num b{display:block;font-size:20px}.num span{color:#666;font-size:12px}
table{border-collapse:collapse;background:#fff;width:100%}
th,td{border:1px solid #e0e0e0;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f0f0f0;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
code,.mono{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:12px}
ul.says{margin:6px 0;padding-left:20px}
.legend{display:flex;flex-wrap:wrap;gap:4px 16px;margin:6px 0 10px;font-size:12px}
.legend .zero{color:#aaa}
.sw{display:inline-block;width:12px;height:12px;vertical-align:-2px;margin-right:4px;border-radius:2px}
.strip{background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px}
.row{display:flex;align-items:center;height:14px;margin:0 0 2px}
.lbl{width:120px;flex:none;font:11px ui-monospace,"DejaVu Sans Mono",monospace;color:#555;
 text-align:right;padding-right:8px;white-space:nowrap}
.band .lbl{color:#000;font-weight:600}
.cells{position:relative;flex:1;height:12px;display:flex;background:#fff}
.cells::after{content:"";position:absolute;inset:0;pointer-events:none;
 background:repeating-linear-gradient(90deg,transparent 0,transparent calc(10% - 1px),
 rgba(255,255,255,.7) calc(10% - 1px),rgba(255,255,255,.7) 10%)}
.band .cells{height:6px}.band .cells::after{background:none}
.cells>*{display:block;height:100%;flex:none}
.s-gap{background:repeating-linear-gradient(45deg,#e0e0e0 0,#e0e0e0 2px,#fff 2px,#fff 4px)}
.s-failed{min-width:3px}
.axis{display:flex;margin:0 0 2px 120px;font:10px ui-monospace,monospace;color:#888}
.axis span{flex:1}
.small{font-size:12px;color:#666}.nw{white-space:nowrap}
details summary{cursor:pointer;font-weight:600}
.cfg td:first-child{white-space:nowrap}
""" + "".join(".s-%s{background:%s}\n" % (s, c) for s, c in COLORS.items() if s != "gap")


# Nothing may be fetched, whoever opens the page: inline style only, links to pages beside it.
CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


def e(text):
    return html.escape(str(text), quote=True)


def says(text):
    """Escaped, with `commands` as code."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", e(text))


def write(report, path, layout=None):
    """Write the page at path (atomic); beside an index.html, runs/<R>.html for failed runs.

    report: from report.collect() then overview.extend(). Returns the run pages written.
    """
    path = Path(path)
    pages = {}
    if path.name == "index.html":
        layout = layout or Layout(report["work_dir"])
        for run in newest_failed(report)[:RUN_PAGES]:
            pages[run] = run_page(report, run, layout)
    runs_dir = path.parent / "runs"
    for run, text in pages.items():
        _replace(runs_dir / ("%d.html" % run), text)
    atomic.write_text(path, render(report, linked=set(pages)))
    if path.name == "index.html" and runs_dir.is_dir():
        for name in os.listdir(runs_dir):  # pages of runs that no longer fail, now unlinked
            m = re.fullmatch(r"(\d+)\.html", name)
            if m and int(m.group(1)) not in pages:
                os.unlink(runs_dir / name)
    return sorted(pages)


def _replace(path, text):
    """Atomic (a web server never serves half of it), not fsynced: the next run rewrites it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def newest_failed(report):
    """Failed runs, the most recent failure first."""
    order = sorted(report["failed"], key=lambda f: (f.get("time") or "", f["run"]), reverse=True)
    return list(dict.fromkeys(f["run"] for f in order))


def render(report, linked=()):
    """The whole page as a string."""
    title = "rra status - %s" % report["host"]
    body = [
        header(report),
        summary(report),
        stages_table(report),
        strip_section(report, linked),
        failures_section(report, linked),
        live_section(report),
        invocations_section(report),
        config_section(report),
    ]
    return page(title, "".join(body))


def page(title, body):
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
        '<meta http-equiv="Content-Security-Policy" content="%s">\n'
        '<meta name="viewport" content="width=device-width,initial-scale=1">\n'
        "<title>%s</title>\n<style>%s</style></head>\n<body>\n%s</body></html>\n" % (CSP, e(title), CSS, body)
    )


def header(report):
    cfg = report.get("config", {})
    return (
        '<h1>Run Record Archiver &mdash; %s</h1>\n<div class="meta">generated %s on %s '
        "from <code>%s</code> &middot; run records <code>%s</code> &middot; work dir "
        "<code>%s</code></div>\n"
        % (
            e(report["host"]),
            e(report["generated"]),
            e(report["host"]),
            e(cfg.get("path", "?")),
            e(report["run_records_dir"]),
            e(report["work_dir"]),
        )
    )


def pending(report):
    """Runs on disk whose record, as it is now, is not archived and has not failed."""
    states = report.get("states", {})
    return sum(states.get(s, 0) for s in ("waiting", "partial", "changed"))


def verdict(report):
    """(css class, one line) for the banner."""
    failed = len({f["run"] for f in report["failed"]})
    wait = pending(report)
    if failed:
        return "bad", "%d run%s failed - see the failures below" % (failed, "s"[failed == 1 :])
    if wait > 0:
        return "warn", "%d run%s waiting to be archived" % (wait, "s"[wait == 1 :])
    return "ok", "every run on disk is archived and validated"


def summary(report):
    cls, line = verdict(report)
    st, states = report["stages"], report.get("states", {})
    last = (report.get("invocations") or [None])[-1]
    wait = report.get("waiting", {})
    now = report.get("generated_ts")
    nums = [
        ("runs on disk", st["record"]["count"]),
        ("validated", st["validate"]["count"]),
        ("failed", states.get("failed", 0)),
        ("to archive", pending(report)),
        ("gaps (numbers)", states.get("gap", 0)),
    ]
    if report.get("last_success_ts") and now:
        nums.append(("last success, %s" % report["last_success"], "%s ago" % age(now - report["last_success_ts"])))
    else:
        nums.append(("last success", "never"))
    if last:
        nums.append(
            (
                "last invocation, %s" % last["ended"],
                "%s, %.1f s"
                % (
                    "ok" if last["ok"] else "interrupted" if last.get("interrupted") else "not ok",
                    last["duration_seconds"],
                ),
            )
        )
    if wait.get("oldest_run") is not None:
        nums.append(("oldest not archived: run %d" % wait["oldest_run"], age(wait["oldest_age_seconds"])))
    cards = "".join('<div class="num"><b>%s</b><span>%s</span></div>' % (e(v), e(k)) for k, v in nums)
    todo = "".join("<li>%s</li>" % says(s) for s in report.get("recommendations", []))
    return '<div class="banner %s">%s</div>\n<div class="nums">%s</div>\n<ul class="says">%s</ul>\n' % (
        cls,
        e(line),
        cards,
        todo,
    )


def age(seconds):
    seconds = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return "%d %s" % (seconds // size, unit)
    return "%d s" % seconds


def stages_table(report):
    failed_at = {}
    for f in report["failed"]:
        failed_at[f["stage"]] = failed_at.get(f["stage"], 0) + 1
    rows = []
    for stage in (s for s in STAGES if s in report["stages"]):  # files only with files_object
        st = report["stages"][stage]
        span = "%s&ndash;%s" % (st["first"], st["last"]) if st["count"] else "&ndash;"
        rows.append(
            '<tr><td>%s</td><td class="n">%d</td><td class="mono">%s</td>'
            '<td class="mono">%s</td><td class="n">%s</td></tr>'
            % (e(TITLES[stage]), st["count"], span, e(spell(st["gaps"], 6) or "none"), failed_at.get(stage, ""))
        )
    return (
        "<h2>Stages</h2>\n<table><tr><th>stage</th><th>runs</th><th>range</th><th>gaps</th>"
        "<th>failed</th></tr>\n%s</table>\n" % "\n".join(rows)
    )


def strip_rows(spans, width=ROW):
    """Rows of the strip: (first, last, [(a, b, state), ...]); whole rows alike merge in a band."""
    rows = []

    def band(a, b, state):
        if rows and rows[-1][3] and rows[-1][2][0][2] == state and rows[-1][1] + 1 == a:
            rows[-1] = (rows[-1][0], b, [(rows[-1][0], b, state)], True)
        else:
            rows.append((a, b, [(a, b, state)], True))

    for a, b, state in spans:
        while a <= b:
            base = a - a % width
            if a == base and b - a + 1 >= width:  # whole rows of one state
                end = a + (b - a + 1) // width * width - 1
                band(a, end, state)
                a = end + 1
                continue
            end = min(b, base + width - 1)
            if rows and not rows[-1][3] and rows[-1][0] - rows[-1][0] % width == base:
                rows[-1][2].append((a, end, state))
                rows[-1] = (rows[-1][0], end, rows[-1][2], False)
            else:
                rows.append((a, end, [(a, end, state)], False))
            a = end + 1
    return [(first, last, segs, whole) for first, last, segs, whole in rows]


def strip_section(report, linked):
    spans = report.get("strip", [])
    counts = report.get("states", {})
    legend = "".join(
        '<span%s><i class="sw s-%s"></i>%s %s</span>'
        % ("" if counts.get(s) else ' class="zero"', s, e(s), e(counts.get(s, 0)))
        for s in overview.STATES
    )
    if not spans:
        return "<h2>Runs</h2>\n<p>No run records yet.</p>\n"
    failures = {}
    for f in report["failed"]:
        failures.setdefault(f["run"], f)
    out = []
    for first, last, segs, whole in strip_rows(spans):
        base = first - first % ROW
        if whole:
            label = "%d&ndash;%d" % (first, last)
            cells = '<span class="s-%s" style="width:100%%" title="%s"></span>' % (
                segs[0][2],
                e("%d-%d: %d runs %s" % (first, last, last - first + 1, segs[0][2])),
            )
        else:
            label = "%d" % base
            cells = ""
            if first > base:
                cells += '<span style="width:%d%%"></span>' % (first - base)
            cells += "".join(segment(a, b, s, failures, linked) for a, b, s in segs)
        out.append(
            '<div class="row%s"><span class="lbl">%s</span><div class="cells">%s</div>'
            "</div>" % (" band" if whole else "", label, cells)
        )
    axis = "".join("<span>+%d</span>" % i for i in range(0, ROW, 10))
    return (
        '<h2>Runs</h2>\n<div class="small">Each row is %d run numbers (ticks every 10); rows '
        "entirely alike are merged into one thin band. Hover for the runs; a failed run "
        'links to its page.</div>\n<div class="legend">%s</div>\n<div class="strip">'
        '<div class="axis">%s</div>\n%s\n</div>\n' % (ROW, legend, axis, "\n".join(out))
    )


def segment(a, b, state, failures, linked):
    if state == "failed":  # one cell per run: each has its own cause and page
        return "".join(failed_cell(r, failures.get(r), linked) for r in range(a, b + 1))
    what = "%d" % a if a == b else "%d-%d" % (a, b)
    return '<span class="s-%s" style="width:%d%%" title="%s"></span>' % (state, b - a + 1, e("%s: %s" % (what, state)))


def failed_cell(run, failure, linked):
    tip = "%d failed" % run
    if failure:
        tip += " at %s: %s" % (failure["stage"], failure.get("cause", failure["error"]))
    if run in linked:
        return '<a class="s-failed" style="width:1%%" href="runs/%d.html" title="%s"></a>' % (run, e(tip))
    return '<span class="s-failed" style="width:1%%" title="%s"></span>' % e(tip)


def failures_section(report, linked):
    if not report["failed"]:
        return "<h2>Failures</h2>\n<p>None: no run's last attempt failed.</p>\n"
    order = sorted(report["failed"], key=lambda f: (f.get("time") or "", f["run"]), reverse=True)
    rows = []
    for f in order[:FAILURES_LISTED]:
        run = '<a href="runs/%d.html">%d</a>' % (f["run"], f["run"]) if f["run"] in linked else "%d" % f["run"]
        rows.append(
            '<tr><td class="n">%s</td><td>%s</td><td class="mono nw">%s</td><td>%s</td>'
            "<td>%s</td></tr>"
            % (run, e(f["stage"]), e(f.get("time") or ""), e(f.get("cause", f["error"])), says(f.get("advice", "")))
        )
    more = (
        ""
        if len(order) <= FAILURES_LISTED
        else '<p class="small">%d more: <code>rra report</code> lists them all.</p>\n' % (len(order) - FAILURES_LISTED)
    )
    return (
        "<h2>Failures (newest first)</h2>\n<table><tr><th>run</th><th>stage</th><th>when</th>"
        "<th>cause</th><th>what to do</th></tr>\n%s</table>\n%s" % ("\n".join(rows), more)
    )


def live_section(report):
    """With --live: what the databases hold that the work dir does not know, or the reverse."""
    live = report.get("live")
    if not live:
        return ""
    from .report import LIVE_TITLES, ranges

    rows = "".join(
        '<tr><td>%s</td><td class="mono">%s</td></tr>' % (e(title), e(spell(ranges(live[key]), 10)))
        for key, title in LIVE_TITLES
        if live[key]
    )
    rows += "".join("<tr><td>could not read</td><td>%s</td></tr>" % e(p) for p in live["errors"])
    return "<h2>Databases (live)</h2>\n<p>artdaqDB holds %d runs, UconDB %d keys.%s</p>\n%s" % (
        live["artdaqdb_runs"],
        live["ucondb_keys"],
        "" if rows else " They agree with the work dir.",
        "<table>%s</table>\n" % rows if rows else "",
    )


def invocations_section(report):
    runs = list(reversed(report.get("invocations", [])))[:INVOCATIONS_LISTED]
    if not runs:
        return "<h2>Last invocations</h2>\n<p>None recorded yet (each <code>doit</code> invocation adds one).</p>\n"
    rows = []
    for inv in runs:
        t = inv.get("tasks", {})
        ended = e(inv["ended"])
        if inv.get("ticks", 1) > 1:
            ended += '<br><span class="small">%d idle ticks since %s</span>' % (
                inv["ticks"],
                e(inv.get("first_ended", "")),
            )
        outcome = "interrupted" if inv.get("interrupted") else "ok" if inv["ok"] else "not ok"
        rows.append(
            '<tr><td class="mono">%s</td><td class="n">%.1f s</td><td class="n">%d</td>'
            '<td class="n">%.2f</td><td class="n">%d</td><td class="n">%d</td>'
            '<td class="n">%d</td><td class="n">%d</td><td>%s</td></tr>'
            % (
                ended,
                inv["duration_seconds"],
                inv["runs_archived"],
                inv["runs_per_second"],
                t.get("done", 0),
                t.get("failed", 0),
                t.get("held_back", 0) + t.get("blocked", 0),
                t.get("up_to_date", 0),
                outcome,
            )
        )
    return (
        "<h2>Last invocations (newest first)</h2>\n<table><tr><th>ended</th><th>duration</th>"
        "<th>runs archived</th><th>runs/s</th><th>tasks done</th><th>failed</th>"
        "<th>held back / blocked</th><th>up to date</th><th>outcome</th></tr>\n%s</table>\n" % "\n".join(rows)
    )


def config_section(report):
    cfg = report.get("config")
    if not cfg:
        return ""
    rows = "".join(
        '<tr><td class="mono">%s</td><td class="mono">%s</td></tr>\n'
        % (e(k), e(json.dumps(v) if not isinstance(v, str) else v))
        for k, v in cfg["values"].items()
    )
    return (
        "<h2>Config</h2>\n<details><summary>%s (secrets masked)</summary>\n"
        '<table class="cfg">%s</table></details>\n' % (e(cfg["path"]), rows)
    )


def run_page(report, run, layout):
    """One failed run: each stage's target or last failure, and what to do."""
    fails = {f["stage"]: f for f in report["failed"] if f["run"] == run}
    rows, blocked = [], None
    for stage, target in (
        ("fhiclize", layout.fhicl_manifest(run)),
        ("artdaqdb", layout.artdaqdb_marker(run)),
        ("blob", layout.blob(run)),
        ("ucondb", layout.ucondb_marker(run)),
        ("validate", layout.validated(run)),
    ):
        f = fails.get(stage)
        if f:
            status = '<b style="color:#c62828">failed</b> %s' % e(f.get("time") or "")
            detail = "%s<br><i>%s</i>" % (e(f.get("cause", f["error"])), says(f.get("advice", "")))
            blocked = blocked or stage
        elif target.exists():  # (validated.md5's time is the record's: it seals the run)
            status = "done" if stage == "validate" else "done %s" % e(_mtime(target))
            detail = e(_marker_line(stage, target))
        elif blocked:
            status, detail = "blocked", "waits for %s" % blocked
        else:
            status, detail = "not yet", ""
        rows.append('<tr><td>%s</td><td class="mono">%s</td><td class="mono">%s</td></tr>' % (e(stage), status, detail))
    record = Path(report["run_records_dir"]) / str(run)
    try:
        files = ", ".join(sorted(os.listdir(record)))
    except OSError as err:
        files = "(cannot list: %s)" % err.strerror
    body = (
        '<p><a href="../index.html">&larr; status page</a></p>\n<h1>Run %d</h1>\n'
        '<div class="meta">as of %s &middot; record <code>%s</code></div>\n'
        "<h2>Stages</h2>\n<table><tr><th>stage</th><th>status</th><th>detail</th></tr>\n%s"
        '</table>\n<h2>Record</h2>\n<p class="mono">%s</p>\n<h2>Retry</h2>\n<p>Fix the cause '
        "above; every invocation (cron) retries a failed run by itself. To retry this run "
        "now: <code>./run_archiver.sh CONFIG --run %d</code>. Where it stands: "
        "<code>rra report</code>.</p>\n" % (run, e(report["generated"]), e(record), "\n".join(rows), e(files), run)
    )
    return page("rra run %d" % run, body)


def _mtime(path):
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(os.stat(path).st_mtime))


def _marker_line(stage, path):
    """What a done stage's marker says, in one line."""
    if stage not in ("artdaqdb", "ucondb"):
        return ""
    try:
        with open(path, encoding="utf-8") as f:
            m = json.load(f)
    except (OSError, ValueError):
        return ""
    if stage == "artdaqdb":
        return "version %s" % m.get("version", "?")
    return "key %s, version %s, %s bytes, %s" % (
        m.get("key"),
        m.get("version_id"),
        m.get("size"),
        redact(str(m.get("server_url", ""))),
    )
