"""boot.txt -> boot.fcl: plain settings, then subsystem and artdaq process tables."""

import re

from .values import quote

PROCESSES = ("BoardReader", "EventBuilder", "DataLogger", "Dispatcher", "RoutingManager")
PROCESS_FIELDS = ("host", "port", "label", "subsystem")
SUBSYSTEM_FIELDS = ("id", "source", "destination")
NOT_SET = "not set"  # legacy's sentinel: a field whose value is literally "not set" counts as absent


def _matching(key):
    """(table, name, field) for a process or subsystem line; legacy matched by substring."""
    for field in SUBSYSTEM_FIELDS:
        if "Subsystem_" + field in key:
            return "subsystem", None, field
    for name in PROCESSES:
        for field in PROCESS_FIELDS:
            if "%s_%s" % (name, field) in key:
                return "process", name, field
    return None


def convert(text):
    """Blocks end at a blank line and are keyed by label/id, so a repeated label replaces the first."""
    plain, processes, subsystems = [], {}, {}
    process = dict.fromkeys(("name", "label", "host", "port", "subsystem"), NOT_SET)
    subsystem = dict.fromkeys(SUBSYSTEM_FIELDS, NOT_SET)

    def close():
        # legacy kept a block's fields for the next block until it saw a label (or an id)
        if process["label"] != NOT_SET:
            processes[process["label"]] = dict(process)
            process.update(dict.fromkeys(process, NOT_SET))
        if subsystem["id"] != NOT_SET:
            subsystems[subsystem["id"]] = dict(subsystem)
            subsystem.update(dict.fromkeys(subsystem, NOT_SET))

    for line in text.splitlines():
        line = line.strip()
        if line.startswith("#"):
            continue
        if not line:
            close()
            continue
        key, colon, value = line.partition(":")
        if not colon:
            continue
        key, value = re.sub(r"\s+", "_", key.strip()), value.strip()
        match = _matching(key)
        if match is None:
            plain.append("%s: %s" % (key, quote(value)))
        elif match[0] == "subsystem":
            subsystem[match[2]] = value
        else:
            process["name"], process[match[2]] = match[1], value
    close()
    out = list(plain)
    if subsystems:
        out.append("\nsubsystem_settings: [")
        for n, sub in enumerate(subsystems.values()):
            out += ["{", 'id: "%s"' % sub["id"]]
            out += ['%s: "%s"' % (f, sub[f]) for f in ("source", "destination") if sub[f] != NOT_SET]
            out.append("}," if n < len(subsystems) - 1 else "}")
        out.append("]")
    out.append("\nartdaq_process_settings: [")
    for n, proc in enumerate(processes.values()):
        out += ["{", 'name: "%s"' % proc["name"], 'label: "%s"' % proc["label"], 'host: "%s"' % proc["host"]]
        if proc["port"] != NOT_SET:
            out.append("port: %s" % proc["port"])
        if proc["subsystem"] != NOT_SET:
            out.append('subsystem: "%s"' % proc["subsystem"])
        out.append("}," if n < len(processes) - 1 else "}")
    out.append("]")
    return "\n".join(out) + "\n"
