"""The run-record blob stored in UconDB, byte-compatible with the legacy archiver's."""

import re
from datetime import datetime, timezone

TAIL = (
    "boot.fcl",
    "known_boardreaders_list.fcl",
    "setup.fcl",
    "environment.fcl",
    "metadata.fcl",
    "settings.fcl",
    "ranks.fcl",
    "RunHistory.fcl",
    "RunHistory2.fcl",
)
DERIVED = ("hashes.fcl",)  # computed from the other sections, so not content of its own
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
ENCODING = "utf-8"

HEADER = re.compile(r"Start of Record\nRun Number: ([^\n]*)\nPacked on ([^\n]*?)( UTC)?\n")
FOOTER = re.compile(r"\nEnd of Record\nRun Number: ([^\n]*)\nPacked on ([^\n]*?)( UTC)?\n\Z")
SECTION = re.compile(r"\n#####\n([^\n]+):\n#####\n")


def stamp(packed_on):
    """'%b %d %H:%M' in UTC with C-locale month names, whatever the process locale."""
    if isinstance(packed_on, str):
        return packed_on
    if packed_on.tzinfo is not None:
        packed_on = packed_on.astimezone(timezone.utc)
    return f"{MONTHS[packed_on.month - 1]} {packed_on.day:02d} {packed_on.hour:02d}:{packed_on.minute:02d}"


def parse_stamp(text, year=1900):
    """The datetime (UTC) of a 'Nov 22 13:43' stamp; the blob has no year, so it is given."""
    m = re.fullmatch(r"(\w{3}) (\d\d) (\d\d):(\d\d)", text)
    if not m or m.group(1) not in MONTHS:
        raise ValueError(f"bad Packed on stamp {text!r}")
    return datetime(year, MONTHS.index(m.group(1)) + 1, *map(int, m.groups()[1:]), tzinfo=timezone.utc)


def order(names):
    """Legacy file order: the rest case-insensitively by name, then the fixed tail in its own order."""
    rest = sorted((n for n in names if n not in TAIL), key=lambda n: (n.lower(), n))
    return rest + [n for n in TAIL if n in names]


def pack(run, files, packed_on):
    """The blob for a run from its exported files (name → text), stamped with packed_on."""
    line = f"Run Number: {run}\nPacked on {stamp(packed_on)} UTC\n"
    parts = ["Start of Record\n", line]
    parts += [f"\n#####\n{name}:\n#####\n{files[name]}" for name in order(files)]
    parts += ["\nEnd of Record\n", line]
    return "".join(parts).encode(ENCODING, "surrogateescape")


def unpack(blob):
    """(run, packed-on stamp, {file name: text}) of a blob; ValueError if it is not one."""
    text = blob.decode(ENCODING, "surrogateescape") if isinstance(blob, (bytes, bytearray)) else blob
    head, foot = HEADER.match(text), FOOTER.search(text)
    if not head or not foot or foot.start() < head.end():
        raise ValueError("not a run record blob: missing Start of Record / End of Record lines")
    if head.group(1) != foot.group(1):
        raise ValueError(f"run number {head.group(1)!r} in header but {foot.group(1)!r} in footer")
    body = text[head.end() : foot.start()]
    pieces = SECTION.split(body)
    if pieces[0]:
        raise ValueError("run record blob: text before the first file section")
    files = {}
    for name, content in zip(pieces[1::2], pieces[2::2]):
        if name in files:
            raise ValueError(f"run record blob: file {name} appears twice")
        files[name] = content
    run = head.group(1)
    return (int(run) if run.isdigit() else run), head.group(2), files


def same_content(a, b):
    """(equal, differing file names): blobs compared apart from Packed on stamps and derived sections."""
    run_a, _, fa = unpack(a)
    run_b, _, fb = unpack(b)
    differ = [] if run_a == run_b else ["Run Number"]
    differ += [n for n in order(set(fa) | set(fb)) if n not in DERIVED and fa.get(n) != fb.get(n)]
    return not differ, differ


def differences(stored, ours):
    """File sections that differ, ignoring Packed on and hashes.fcl; a non-blob differs whole."""
    if stored == ours:
        return []
    try:
        return same_content(stored, ours)[1]
    except ValueError as e:
        return ["the whole blob (%s)" % e]
