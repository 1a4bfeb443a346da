"""ranks.txt -> ranks.fcl: DAQInterface's rank table as one FHiCL table."""


def convert(text):
    """First row is the header; each row of 5+ fields becomes `rank<5th field>: [...]`, shorter rows are dropped."""
    rows = [line.split() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    if not rows:
        return ""
    out = ["ranks: {", "  header: [%s]" % ", ".join('"%s"' % f for f in rows[0])]
    out += ["  rank%s: [%s]" % (row[4], ", ".join('"%s"' % f for f in row)) for row in rows[1:] if len(row) >= 5]
    out.append("}")
    return "\n".join(out) + "\n"
