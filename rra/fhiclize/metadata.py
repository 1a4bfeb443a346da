"""metadata.txt -> metadata.fcl, line for line as the legacy archiver wrote it."""

import re

from .values import fhicl_list, quote

HISTORY = re.compile(r"Config name|DAQInterface start time|DAQInterface stop time|Total events")
COMPONENT = re.compile(r"Component #\d+")


def convert(text):
    """Keep the legacy bytes: comments verbatim, components and logfile sections folded into lists."""
    out, components, logfiles = [], [], {}
    in_components, section = False, None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            out.append(line)
            continue
        if not stripped:
            if section:
                out.append("\n%s: %s" % (section, fhicl_list(logfiles[section])))
                section = None
            elif in_components:
                out.append("components: " + fhicl_list(components))
                in_components = False
            continue
        if section:
            logfiles[section].append(stripped.split()[0])
            continue
        if in_components and not COMPONENT.match(stripped):
            out.append("components: " + fhicl_list(components))
            in_components = False
        key, colon, value = stripped.partition(":")
        if not colon:
            continue
        key, value = key.strip(), value.strip()
        if HISTORY.match(key):
            out.append("%s: %s" % (key.lower().replace(" ", "_"), quote(value)))
        elif COMPONENT.match(key):
            components.append(value)
            in_components = True
        elif "commit/version" in key:
            key = re.sub(r"[\s\-]+", "_", key).replace("commit/version", "commit_or_version")
            out.append('%s: "%s"' % (key, value.replace('"', " ")))
        elif key == "pmt logfile":
            out.append("pmt_logfiles_wildcard: " + quote(value))
        elif key == "process management method":
            out.append("process_management_method: " + quote(value))
        elif key.endswith(" logfiles"):  # legacy knew six kinds by name; same bytes for those, sane for others
            section = key[: -len(" logfiles")].replace(" ", "_") + "_logfiles"
            logfiles.setdefault(section, [])
        else:
            out.append("%s: %s" % (re.sub(r"[\s\-]+", "_", key), quote(value)))
    # the end of the file ends a block too (legacy dropped all but a dispatcher section there)
    if section:
        out.append("\n%s: %s" % (section, fhicl_list(logfiles[section])))
    elif in_components:
        out.append("components: " + fhicl_list(components))
    return "\n".join(out) + "\n" if out else ""
