"""What metadata.txt says about a run: RunHistory.fcl, RunHistory2.fcl and the configuration name."""

import re

from .values import ascii_dots, fhicl_list

CONFIG = re.compile(r"Config name:\s*(.+)")
COMPONENT = re.compile(r"Component #\d+:\s*(.+)")
TIMES = re.compile(r"DAQInterface (start|stop) time:\s+(.*)")


def run_history(metadata, run_number=None):
    """RunHistory.fcl: run number, the last `Config name` and every component, blank-line separated."""
    config, components = None, []
    for line in metadata.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = CONFIG.match(line)
        if match:
            config = match.group(1).strip()
            continue
        match = COMPONENT.match(line)
        if match:
            components.append(match.group(1).strip())
    out = []
    if run_number is not None:
        out += ["run_number: %d" % run_number, ""]
    if config:
        out += ['config_name: "%s"' % config, ""]
    if components:
        out += ["components: " + fhicl_list(components), ""]
    return "\n".join(out) + "\n" if out else ""


def run_history2(metadata):
    """RunHistory2.fcl (the update): start/stop times in file order, no trailing newline; '' if none yet."""
    out = []
    for line in metadata.splitlines():
        match = TIMES.match(line)
        if match:
            out.append('DAQInterface_%s_time: "%s"' % match.groups())
    return ascii_dots("\n".join(out))


def config_name(metadata):
    """The first non-empty `Config name:` with '/' as '_' (it names a database configuration), else 'standard'."""
    for line in metadata.splitlines():
        match = re.match(r"Config name:\s+(.*)", line)
        if match and match.group(1).strip():
            return match.group(1).strip().replace("/", "_")
    return "standard"
