"""The status page (rendered by a real headless chromium), the Prometheus textfile (parsed by
prometheus_client), the invocation history and the census behind them, on real archives."""

import html
import json
import os
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from conftest import doit, make_records, python_m, stop_run, write_config
from rra import atomic, census, config, history, htmlpage, overview, report
from rra.layout import Layout

SECRET = "Page-Secret-9"
CHROMIUM = shutil.which("chromium")
need_chromium = pytest.mark.skipif(
    not CHROMIUM, reason="needs Debian's chromium (apt-get install -y chromium; .ci/run installs it)"
)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--hide-scrollbars",
]


def rra(cfg, *args):
    return python_m("rra.cli", "--config", cfg, *args)


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """Runs 100-111: 104 missing, 107 with a bad record (failed), 109 changed since archived,
    110-111 added after the last invocation (waiting); a writer password in the config."""
    top = tmp_path_factory.mktemp("archive")
    records = make_records(top / "records", 100, 10, "--skip", 104, "--running", 1)
    bad = records / "107" / "boot.txt"
    bad.unlink()
    bad.symlink_to("/etc/hostname")
    cfg = write_config(top, records, ucon=("sqlite://${app.work_dir}/ucondb.sqlite", "writer", SECRET))
    assert doit(cfg).returncode == 1
    stop_run(records, 109)
    make_records(records, 110, 2)
    return top, cfg


def browse(tmp_path, url, *args):
    """Headless chromium on url (DOM on stdout); every network event in tmp_path/net.json."""
    out = subprocess.run(
        [
            CHROMIUM,
            *FLAGS,
            "--user-data-dir=%s" % (tmp_path / "profile"),
            "--log-net-log=%s" % (tmp_path / "net.json"),
            *args,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def page_requests(netlog):
    """URLs the page asked for: chromium's own requests (updates, accounts) are 'not an origin'."""
    log = json.loads(Path(netlog).read_text())
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return [
        ev["params"]["url"]
        for ev in log["events"]
        if ev["type"] == start and "url" in ev.get("params", {}) and ev["params"].get("initiator") != "not an origin"
    ]


def png_rows(path):
    """The rows of an 8-bit RGB(A) PNG as bytes (filters undone), and bytes per pixel."""
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert depth == 8 and ctype in (2, 6) and not interlace
    bpp, raw = 3 if ctype == 2 else 4, zlib.decompress(idat)
    stride, prev, rows = width * bpp, bytearray(width * bpp), []
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for x in range(stride) if kind else ():
            a = line[x - bpp] if x >= bpp else 0
            b, c = prev[x], prev[x - bpp] if x >= bpp else 0
            if kind == 1:
                line[x] = (line[x] + a) & 255
            elif kind == 2:
                line[x] = (line[x] + b) & 255
            elif kind == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            else:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return rows, bpp


def places(rows, bpp, color):
    """How many separate bands of rows show the color (e.g. the legend and the strip: 2)."""
    rgb = bytes(int(color[i : i + 2], 16) for i in (1, 3, 5))
    ys = [y for y, row in enumerate(rows) if _has(row, rgb, bpp)]
    return sum(1 for i, y in enumerate(ys) if i == 0 or ys[i - 1] + 1 != y)


def _has(row, rgb, bpp):
    i = row.find(rgb)
    while i >= 0 and i % bpp:
        i = row.find(rgb, i + 1)
    return i >= 0


@need_chromium
def test_page_renders_in_chromium_with_counts_failures_and_masked_config(archive, tmp_path):
    top, cfg = archive
    index = tmp_path / "www" / "index.html"
    out = rra(cfg, "report", "--html", str(index))
    assert out.returncode == 0 and out.stdout == "", out.stderr
    page = index.read_text()
    assert SECRET not in page and "********" in page
    # self-contained: no script, no stylesheet, font or image from anywhere, links stay beside it
    for fetch in ("<script", "<link", "@import", "url(", "src=", "<img", "<iframe", "<object"):
        assert fetch not in page.lower()
    assert set(re.findall(r'href="([^"]*)"', page)) == {"runs/107.html"}
    assert "Content-Security-Policy" in page

    dom = browse(tmp_path, index.as_uri(), "--dump-dom")
    text = strip_tags(dom)
    assert "1 run failed" in text  # the banner
    assert "11runs on disk" in text and "8validated" in text and "1failed" in text
    assert "2 runs on disk not yet archived: 110-111" in text
    assert "symbolic link" in text and "./run_archiver.sh CONFIG --run 107" in text
    assert "fhiclize" in text and "104" in text  # the gap, in the stages table
    assert str(cfg) in text and "ucon_db.writer_password" in text and SECRET not in text
    assert 'href="runs/107.html"' in dom and 'title="107 failed at fhiclize' in dom
    assert page_requests(tmp_path / "net.json") == []

    run_page = index.parent / "runs" / "107.html"
    dom = browse(tmp_path, run_page.as_uri(), "--dump-dom")
    text = strip_tags(dom)
    assert "Run 107" in text and "symbolic link" in text and "waits for fhiclize" in text
    assert 'href="../index.html"' in dom and SECRET not in dom

    shot = tmp_path / "page.png"
    browse(tmp_path, index.as_uri(), "--window-size=1000,1000", "--screenshot=%s" % shot)
    rows, bpp = png_rows(shot)
    assert len(rows) == 1000
    for state in ("failed", "sealed", "waiting", "changed"):  # in the legend and on the strip
        assert places(rows, bpp, htmlpage.COLORS[state]) >= 2, state


@need_chromium
def test_the_request_check_sees_a_page_that_fetches(tmp_path):
    """The check above is not vacuous: a page that fetches shows its requests in the log."""
    control = tmp_path / "control.html"
    control.write_text(
        "<!DOCTYPE html><html><head><style>body{background:url(http://127.0.0.1:9/"
        'b.png)}</style></head><body><img src="https://127.0.0.1:9/x.png"></body>'
        "</html>"
    )
    browse(tmp_path, control.as_uri(), "--dump-dom")
    assert sorted(page_requests(tmp_path / "net.json")) == ["http://127.0.0.1:9/b.png", "https://127.0.0.1:9/x.png"]


def test_json_has_what_the_page_shows(archive, tmp_path):
    top, cfg = archive
    out = rra(cfg, "report", "--json")
    assert out.returncode == 0, out.stderr
    rep = json.loads(out.stdout)
    assert rep["schema"] == 2 and SECRET not in out.stdout
    assert rep["states"] == {
        "sealed": 7,
        "archived": 0,
        "partial": 0,
        "waiting": 2,
        "changed": 1,
        "gone": 0,
        "failed": 1,
        "gap": 1,
    }
    assert rep["strip"] == [
        [100, 103, "sealed"],
        [104, 104, "gap"],
        [105, 106, "sealed"],
        [107, 107, "failed"],
        [108, 108, "sealed"],
        [109, 109, "changed"],
        [110, 111, "waiting"],
    ]
    assert rep["sealed"] == [[100, 103], [105, 106], [108, 108]]
    (fail,) = rep["failed"]
    assert fail["run"] == 107 and fail["error"].startswith("[run 107] [fhiclize] ")
    assert not fail["cause"].startswith("[")
    assert "symbolic link" in fail["cause"] and "--run 107" in fail["advice"]
    assert rep["waiting"]["count"] == 4 and rep["waiting"]["oldest_run"] in (107, 109, 110, 111)
    assert rep["config"]["path"] == str(cfg.resolve())
    assert rep["config"]["values"]["ucon_db.writer_password"] == "********"
    assert rep["invocations"][-1]["tasks"]["failed"] == 1 and rep["last_success"] is None


def test_census_agrees_with_a_plain_look_at_every_file(archive):
    top, cfg = archive
    cfg = config.load(cfg, env={})
    layout = Layout(cfg.work_dir)
    sealed = census.take(layout, cfg.run_records_dir)
    assert sealed.sealed == {100, 101, 102, 103, 105, 106, 108}
    trusted = census.take(layout, cfg.run_records_dir, sealed={100, 101})
    for found in (sealed, trusted):
        assert found.have == plain_look(layout)
        assert [(f["run"], f["stage"]) for f in found.failed] == [(107, "fhiclize")]
        assert found.changed == [109] and found.sealed == sealed.sealed
    # a failure recorded after the seal (a forced rebuild that failed) is still seen
    atomic.write_text(
        layout.failure(103, "blob"),
        json.dumps({"run": 103, "stage": "blob", "error": "[run 103] [blob] forced and failed"}),
    )
    try:
        again = census.take(layout, cfg.run_records_dir)
        assert [(f["run"], f["stage"]) for f in again.failed] == [(103, "blob"), (107, "fhiclize")]
    finally:
        os.unlink(layout.failure(103, "blob"))


def plain_look(layout):
    """Each stage's runs by a stat of every target (what `rra report` did before rra.census)."""
    worked = [int(n) for n in os.listdir(layout.runs_dir)]
    paths = {
        "fhiclize": layout.fhicl_manifest,
        "artdaqdb": layout.artdaqdb_marker,
        "blob": layout.blob,
        "ucondb": layout.ucondb_marker,
        "validate": layout.validated,
    }
    return {stage: {r for r in worked if path(r).exists()} for stage, path in paths.items()}


def test_prometheus_textfile_after_each_invocation(tmp_path):
    parser = pytest.importorskip("prometheus_client.parser", reason="pip install prometheus_client")
    records = make_records(tmp_path / "records", 500, 7, "--skip", 502)  # 500-506, 506 running
    bad = records / "503" / "ranks.txt"
    good = bad.read_bytes()
    bad.chmod(0o644)
    bad.write_bytes(b"\x00\x01binary")
    prom = tmp_path / "textfile" / "rra.prom"
    cfg = write_config(tmp_path, records, extra_app="  batch_size: 4\n")
    cfg.write_text(cfg.read_text() + "metrics:\n  prometheus_textfile: %s\n" % prom)

    def metrics():
        families = {f.name: f for f in parser.text_string_to_metric_families(prom.read_text())}
        for family in families.values():
            assert family.type == "gauge" and family.documentation
            assert all(s.timestamp is None for s in family.samples)  # node_exporter refuses them
            assert all(s.labels["work_dir"] == str(tmp_path / "work") for s in family.samples)
        return {
            (s.name, tuple(sorted((k, v) for k, v in s.labels.items() if k != "work_dir"))): s.value
            for f in families.values()
            for s in f.samples
        }

    assert doit(cfg).returncode == 1  # 4 of 6 runs (batch_size), 503 fails
    m = metrics()
    assert m["rra_runs", (("stage", "record"),)] == 6
    assert m["rra_runs", (("stage", "validate"),)] == 3
    assert m["rra_runs_failed", ()] == 1
    assert m["rra_runs_state", (("state", "gap"),)] == 1
    assert m["rra_runs_waiting", ()] == 3 and m["rra_oldest_waiting_run", ()] in (503, 505, 506)
    assert m["rra_oldest_waiting_age_seconds", ()] >= 0
    assert m["rra_last_invocation_success", ()] == 0
    assert m["rra_last_invocation_runs_archived", ()] == 3
    assert m["rra_last_invocation_tasks", (("outcome", "failed"),)] == 1
    assert m["rra_last_invocation_duration_seconds", ()] > 0
    assert ("rra_last_success_timestamp_seconds", ()) not in m  # never succeeded yet
    assert sorted(os.listdir(prom.parent)) == ["rra.prom"]  # no temp file left for the collector

    bad.write_bytes(good)
    assert doit(cfg).returncode == 0  # 503 fixed, the last two runs archived
    m = metrics()
    assert m["rra_runs", (("stage", "validate"),)] == 6 and m["rra_runs_failed", ()] == 0
    assert m["rra_runs_waiting", ()] == 0 and ("rra_oldest_waiting_run", ()) not in m
    assert m["rra_oldest_waiting_age_seconds", ()] == 0
    assert m["rra_last_invocation_success", ()] == 1
    assert m["rra_last_invocation_runs_archived", ()] == 3
    ended = m["rra_last_invocation_timestamp_seconds", ()]
    assert m["rra_last_success_timestamp_seconds", ()] == ended

    assert doit(cfg).returncode == 0  # an idle tick: sealed runs, nothing to do
    m = metrics()
    assert m["rra_runs_state", (("state", "sealed"),)] == 6  # the running run too, until it stops
    assert m["rra_last_invocation_runs_archived", ()] == 0
    assert m["rra_last_success_timestamp_seconds", ()] > ended
    past = history.load(tmp_path / "work")
    assert [e["ok"] for e in past["invocations"]] == [False, True, True]


def test_textfile_problem_is_one_warning_and_the_archive_goes_on(tmp_path):
    records = make_records(tmp_path / "records", 600, 2)
    (tmp_path / "file").write_text("not a directory")
    cfg = write_config(tmp_path, records)
    cfg.write_text(cfg.read_text() + "metrics:\n  prometheus_textfile: %s\n" % (tmp_path / "file" / "rra.prom"))
    out = doit(cfg)
    assert out.returncode == 0, out.stderr
    assert "prometheus metrics not written: cannot write" in out.stderr
    assert "metrics.prometheus_textfile" in out.stderr and "Traceback" not in out.stderr


def test_history_folds_idle_ticks_and_stays_bounded(tmp_path):
    from collections import Counter

    busy = Counter({("validate", "done"): 5, ("fhiclize", "done"): 5})
    data = {"invocations": [], "last_success": None}
    data = history.add(data, history.entry(busy, 2.0, now=1000))
    for t in range(1001, 1004):
        data = history.add(data, history.entry(Counter(), 0.5, now=t))
    assert [e["ticks"] for e in data["invocations"]] == [1, 3]
    assert data["invocations"][0]["runs_archived"] == 5 and data["last_success"] == 1003
    failed = history.add(data, history.entry(Counter({("ucondb", "failed"): 1}), 1.0, now=1004))
    assert failed["last_success"] == 1003 and failed["invocations"][-1]["ok"] is False
    for t in range(200):
        data = history.add(data, history.entry(busy, 1.0, now=2000 + t))
    assert len(data["invocations"]) == history.LIMIT
    (tmp_path / "history.json").write_text("{not json")  # damaged: starts again, no error
    assert history.load(tmp_path) == {"invocations": [], "last_success": None}
    history.record(tmp_path, history.entry(busy, 1.0, now=5000))
    assert json.loads((tmp_path / "history.json").read_text())["last_success"] == 5000


def test_strip_collapses_alike_rows_and_keeps_each_failure(tmp_path):
    spans = [
        [1000, 1499, "sealed"],
        [1500, 1549, "gap"],
        [1550, 2206, "sealed"],
        [2207, 2208, "failed"],
        [2209, 2350, "sealed"],
        [2351, 2360, "waiting"],
    ]
    rows = htmlpage.strip_rows(spans)
    assert [(a, b, whole) for a, b, _, whole in rows] == [
        (1000, 1499, True),
        (1500, 1599, False),
        (1600, 2199, True),
        (2200, 2299, False),
        (2300, 2360, False),
    ]
    assert rows[3][2] == [(2200, 2206, "sealed"), (2207, 2208, "failed"), (2209, 2299, "sealed")]
    rep = synthetic_report(spans)
    page = htmlpage.render(rep, linked={2207})
    assert page.count('class="s-failed"') == 2 and page.count('href="runs/2207.html"') == 2
    assert page.count('<div class="row') == 5


def synthetic_report(spans):
    """A report as collect() + extend() make it, for spans of states (no files behind it)."""
    states = {r: s for a, b, s in spans for r in range(a, b + 1) if s != "gap"}
    on_disk = sorted(states)
    validated = sorted(r for r, s in states.items() if s == "sealed")
    failed = [
        {"run": r, "stage": "ucondb", "error": "[run %d] [ucondb] 503" % r, "time": "t"}
        for r, s in states.items()
        if s == "failed"
    ]
    rep = {
        "host": "h",
        "generated": "now",
        "work_dir": "/w",
        "run_records_dir": "/r",
        "stages": {"record": report._stage(on_disk), **{s: report._stage(validated) for s in report.STAGES[1:]}},
        "failed": failed,
        "changed": [],
        "missing_records": [],
        "not_archived": sorted(r for r, s in states.items() if s == "waiting"),
        "sealed": report.ranges(validated),
    }
    rep["recommendations"] = report.recommend(rep)
    rep["strip"] = overview.spans(overview.run_states(rep))
    rep["states"] = {s: sum(1 for v in states.values() if v == s) for s in overview.STATES}
    for f in failed:
        f["cause"], f["advice"] = overview.cause(f["error"]), overview.advice(f)
    return rep


def test_html_of_20000_runs_stays_small():
    """Every run on the strip, 40 failures among them: the page stays a few tens of kB."""
    spans, run = [], 100000
    for i in range(40):
        spans += [[run, run + 486, "sealed"], [run + 487, run + 487, "failed"]]
        run += 488
    spans.append([run, 120000, "waiting"])
    page = htmlpage.render(synthetic_report(spans), linked=set())
    assert page.count('class="s-failed"') == 40
    assert len(page.encode()) < 80_000


def strip_tags(dom):
    """The text a person reads (tags out: a card's number runs into its label, as "11runs")."""
    text = re.sub(r"<style[^>]*>.*?</style>", "", dom, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def test_run_pages_of_runs_that_no_longer_fail_are_removed(tmp_path):
    index = tmp_path / "www" / "index.html"
    failing = synthetic_report([[1000, 1006, "sealed"], [1007, 1007, "failed"], [1008, 1009, "sealed"]])
    assert htmlpage.write(failing, index) == [1007]
    (tmp_path / "www" / "runs" / "notes.txt").write_text("not ours")
    assert 'href="runs/1007.html"' in index.read_text()
    assert "1007" in (tmp_path / "www" / "runs" / "1007.html").read_text()
    assert htmlpage.write(synthetic_report([[1000, 1009, "sealed"]]), index) == []
    assert sorted(os.listdir(tmp_path / "www" / "runs")) == ["notes.txt"]
    assert "runs/" not in index.read_text()
    single = tmp_path / "status.html"  # not an index.html: one file, no run pages
    assert htmlpage.write(failing, single) == [] and "href=" not in single.read_text()
    assert sorted(os.listdir(tmp_path)) == ["status.html", "www"]
