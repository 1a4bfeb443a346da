"""Realistic artdaq run records for tests and benches, made the way DAQInterface makes them.

A run record is a directory named by the run number holding what DAQInterface's
save_run_record step writes: one `<label>.fcl` per artdaq process (a boardreader's
`componentNN_hw_cfg.fcl` is saved as `componentNN.fcl`), boot.txt, setup.txt,
settings.txt, known_boardreaders_list.txt, ranks.txt, environment.txt and metadata.txt,
every file read-only. At the start transition DAQInterface appends the start time to
metadata.txt; at the stop transition the stop time and the event count.

The process FHiCL, boot, settings and boardreader lists are DAQInterface's own example
configurations (tests/data/fixtures/daqinterface/). Output depends only on the arguments.

    python tests/records.py OUT --first 1000 --count 20 [--running 1] [--skip 1004] [--lite]
    python tests/records.py OUT --stop 1019      # the stop transition of a running run
"""

import argparse
import functools
import random
import shutil
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

DAQI = Path(__file__).resolve().parent / "data" / "fixtures" / "daqinterface"
CONFIGS = ("complex_subsystems", "circular_buffer_mode_withRM", "ascii_simulator_example")
HOST = "daq01.example.org"
HOME = "/home/daq"
PACKAGES = ("artdaq", "artdaq_core", "artdaq_utilities", "sbndaq", "sbndaq_artdaq")
LOG_KINDS = ("process manager", "boardreader", "eventbuilder", "datalogger", "dispatcher", "routingmanager")
EPOCH = datetime(2024, 3, 1, 8, 0, 0, tzinfo=timezone.utc)
LITE_PROCESSES = 3  # enough for every converter and a realistic blob, cheap at 100k runs


def make(out, first=1000, count=10, running=1, skip=(), lite=False, seed=1):
    """Runs first..first+count-1 under out (replaced if present); the last `running` have no stop time."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    last = first + count - 1
    for run in range(first, last + 1):
        if run not in skip:
            write_run(out / str(run), run, random.Random(seed * 7919 + run), lite, run <= last - running)
    return out


def stop(out, *runs):
    """Append the stop time and the event count to each run's metadata.txt, as DAQInterface does."""
    for run in runs:
        meta = Path(out) / str(run) / "metadata.txt"
        if not meta.is_file():
            raise FileNotFoundError("no run record at %s" % meta.parent)
        meta.chmod(0o644)
        with open(meta, "a") as f:
            f.write(stop_lines(run))
        meta.chmod(0o444)


def start_time(run):
    return EPOCH + timedelta(minutes=47 * (run % 100000))


def stop_lines(run):
    """What DAQInterface appends at the stop transition (the same for a run, however made)."""
    rng = random.Random(run)
    ended = start_time(run) + timedelta(minutes=5 + rng.randrange(120), seconds=rng.randrange(60))
    return "\nDAQInterface stop time: %s\n\nTotal events: %d\n" % (date_utc(ended), rng.randrange(1000, 5000000))


def date_utc(t):
    """What `date --utc` prints in the C locale (DAQInterface's format): day padded with a space."""
    return t.strftime("%a %b ") + "%2d" % t.day + t.strftime(" %H:%M:%S UTC %Y")


@functools.lru_cache(maxsize=None)
def processes(config, lite):
    """(label, FHiCL text) of each artdaq process of a configuration, by label."""
    found = []
    for path in (DAQI / "configs" / config).glob("*.fcl"):
        if path.stem.endswith("_standard"):
            continue  # included by the boardreaders, not a process of its own
        label = path.stem[: -len("_hw_cfg")] if path.stem.endswith("_hw_cfg") else path.stem
        found.append((label, path.read_text()))
    found.sort()
    return tuple(found[:LITE_PROCESSES] if lite else found)


@functools.lru_cache(maxsize=None)
def example(config, name, fallback):
    """A configuration's own copy of a DAQInterface example file, else the generic one."""
    own = DAQI / "configs" / config / name
    return (own if own.is_file() else DAQI / fallback).read_text()


def write_run(d, run, rng, lite, finished):
    config = CONFIGS[run % len(CONFIGS)]
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    procs = processes(config, lite)
    labels = [label for label, _ in procs]
    files = {"%s.fcl" % label: text for label, text in procs}
    # metadata.txt as it is after the start transition (and the stop transition if finished)
    meta = "%s\nDAQInterface start time: %s\n" % (metadata_text(run, config, labels, rng), date_utc(start_time(run)))
    files.update(
        {
            "boot.txt": example(config, "boot.txt", "boot.txt").replace("${HOME}", HOME).replace("$HOME", HOME),
            "setup.txt": setup_text(run),
            "settings.txt": example(config, "settings_example", "settings_example"),
            "known_boardreaders_list.txt": example(
                config, "known_boardreaders_list_example", "known_boardreaders_list_example"
            ),
            "ranks.txt": ranks_text(labels),
            "environment.txt": environment_text(run),
            "metadata.txt": meta + stop_lines(run) if finished else meta,
        }
    )
    for name, text in files.items():
        path = d / name
        path.write_text(text)
        path.chmod(0o444)


def setup_text(run):
    """The user's setup script, saved as it was (quotes, braces and an alias included)."""
    area = "%s/DAQ_v3_12_0%d" % (HOME, run % 3)
    return (
        "#!/bin/bash\n"
        "# DAQ setup script saved with the run record\n"
        'export DAQ_AREA="%s"\n'
        'source "${DAQ_AREA}/products/setup" || { echo "no products \\"dir\\""; return 1; }\n'
        "setup mrb\n"
        "export TRACE_MSGMAX=0\n"
        "alias rr='ls -ltr %s/run_records | tail'\n" % (area, HOME)
    )


def environment_text(run):
    """The DAQINTERFACE_* variables of the partition the run used, sorted."""
    partition = run % 4
    env = {
        "FHICL_DIRECTORY": HOME + "/DAQ/srcs/sbndaq/configs",
        "KNOWN_BOARDREADERS_LIST": HOME + "/DAQInterface/known_boardreaders_list",
        "LOGFILE": "%s/daqlogs/DAQInterface_partition%d.log" % (HOME, partition),
        "PARTITION_NUMBER": str(partition),
        "PROCESS_MANAGEMENT_METHOD": "direct",
        "SETTINGS": HOME + "/DAQInterface/settings_example",
        "USER_SOURCEFILE": HOME + "/DAQInterface/user_sourcefile_example",
    }
    return "".join("export DAQINTERFACE_%s=%s\n" % item for item in sorted(env.items()))


def ranks_text(labels):
    """DAQInterface's ranks table: a padded header, a blank line, one row per process."""
    lines = ["%-30s%-10s%-20s%-15s%-10s" % ("host", "port", "label", "subsystem", "rank"), ""]
    for rank, label in enumerate(labels):
        lines.append("%-29s %-9s %-19s %-14s %-9d" % (HOST, 10100 + 5 * rank, label, 1, rank))
    return "\n".join(lines) + "\n"


def metadata_text(run, config, labels, rng):
    """metadata.txt as DAQInterface writes it at the start transition (the start time comes after)."""
    components = [label for label in labels if label.startswith("component")] or labels[:1]
    partition, release = run % 4, "v3_12_0%d" % (run % 3)
    lines = ["Config name: %s" % config]
    lines += ["Component #%d: %s" % pair for pair in enumerate(sorted(components))]
    lines += [
        "DAQInterface directory: %s:%s/DAQInterface" % (HOST, HOME),
        "DAQInterface logfile: %s:%s/daqlogs/DAQInterface_partition%d.log" % (HOST, HOME, partition),
        "",
        "# Two possible sets of fields provided below for code info, depending on if a git repo was available: ",
        "# <git commit hash> <LoCs added on top of commit> <LoCs removed on top of commit> "
        "<git commit comment> <git commit time> <git branch> <BuildInfo build time (if available)> "
        "<BuildInfo version (if available)>",
        "# <package version> <BuildInfo build time (if available)> <BuildInfo version (if available)>",
        "",
        'DAQInterface commit/version: %s "06-Mar-2024 10:12:33 UTC" "%s"' % (release, release),
        "",
    ]
    for package in PACKAGES:
        lines += [
            "%s commit/version: %040x \"Merge branch 'feature/run%d' into develop\" "
            '"Tue Mar 5 16:02:11 2024 -0600" "develop" "05-Mar-2024 22:41:07 UTC" "v1_0%d_00"'
            % (package, rng.getrandbits(160), run, run % 7),
            "",
        ]
    lines += ["", "process management method: direct", ""]
    for kind in LOG_KINDS:
        short = kind.replace(" ", "")
        lines += ["", "%s logfiles: " % kind]
        lines[-1] += "".join(
            "\n%s:%s/daqlogs/%s/%s-%d-%d.log" % (HOST, HOME, short, short, run, i) for i in range(1 + rng.randrange(2))
        )
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--first", type=int, default=1000, help="first run number")
    ap.add_argument("--count", type=int, default=10, help="how many runs")
    ap.add_argument("--running", type=int, default=1, help="the last N runs have no stop time yet")
    ap.add_argument("--skip", type=int, nargs="*", default=[], help="run numbers to leave out (gaps)")
    ap.add_argument("--lite", action="store_true", help="three process files per run (scale tests)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--stop",
        type=int,
        nargs="*",
        default=[],
        metavar="RUN",
        help="append the stop time to these existing runs and exit",
    )
    a = ap.parse_args(argv)
    try:
        if a.stop:
            stop(a.out, *a.stop)
        else:
            make(a.out, a.first, a.count, a.running, set(a.skip), a.lite, a.seed)
    except OSError as e:
        print("records.py: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
