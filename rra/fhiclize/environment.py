"""environment.txt -> environment.fcl: `export K=V` -> `K: "V"`."""

import re

from .values import ascii_dots, content_lines

EXPORT = re.compile(r"export\s+([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)")


def convert(text):
    """Other lines are dropped; surrounding quotes stripped, inner `"` escaped, non-ASCII as '.'."""
    out = []
    for line in content_lines(text):
        match = EXPORT.fullmatch(line)
        if match:
            value = ascii_dots(match.group(2).strip().strip("'\"")).replace('"', '\\"')
            out.append('%s: "%s"' % (match.group(1), value))
    return "\n".join(out) + "\n" if out else ""
