"""known_boardreaders_list.txt -> FHiCL: `name host [port [subsystem ...]]` as a list per name."""

from .values import content_lines


def _fields(line):
    """Whitespace-separated fields, a double-quoted stretch kept whole with its quotes."""
    fields, current, quoted = [], [], False
    for char in line:
        if char == '"':
            current.append(char)
            if quoted:
                fields.append("".join(current))
                current = []
            quoted = not quoted
        elif char.isspace() and not quoted:
            if current:
                fields.append("".join(current))
                current = []
        else:
            current.append(char)
    if current:
        fields.append("".join(current))
    return fields


def convert(text):
    """One `name: ["host", ...]` line per boardreader; legacy closed lists holding a quoted field with ' ]'."""
    out = []
    for line in content_lines(text):
        fields = _fields(line)
        if len(fields) < 2:
            continue
        values = [f if f.startswith('"') and f.endswith('"') else '"%s"' % f for f in fields[1:]]
        end = " ]" if any(f.startswith('"') and f.endswith('"') for f in fields[1:]) else "]"
        out.append("%s: [%s%s" % (fields[0], ", ".join(values), end))
    return "\n".join(out) + "\n" if out else ""
