"""docs/troubleshooting.md quotes only messages that rra (or doit, click, requests, bash) prints.

Every quoted message is read out of the page; its fixed parts (between `<placeholders>` and
`...`) must each be text of a string in the source that prints it. A message rra no longer
prints fails here with its line number, so the page stays true.
"""

import ast
import importlib.util
import re
from pathlib import Path

import pytest

from conftest import ROOT

DOC = ROOT / "docs" / "troubleshooting.md"
SPAN = re.compile(r"``\s?(.+?)\s?``|`([^`]+)`")
# <placeholders>, "...", and numbers (a timeout, a status code, a count) stand for what varies.
PLACEHOLDER = re.compile(r"<[^<>]*>|\.\.\.|\[\.\.\.\]|\b\d+s?\b")
# Spans that are commands, keys or file names, not messages.
NOT_A_MESSAGE = re.compile(
    r"^(rra --config |rra (report|recover|status|fhiclize|fhicl|artdaqdb"
    r"|check-config)\b(?!:)|\./run_archiver\.sh \$CFG"
    r"|doit |cat |ls |grep |sed |curl |df |chmod )"
)


def messages():
    """(line number, message) of each quoted message: in headings, in bullets before their
    explanation, and in the first cell of table rows."""
    out = []
    for number, line in enumerate(DOC.read_text().splitlines(), 1):
        if line.startswith("#### ") or line.startswith("- `") or line.startswith("| `"):
            if line.startswith("- "):  # "- `message` / `message` — what it means"
                line = line.split(" — ")[0]
            elif line.startswith("| "):  # | message | cause | fix |
                line = line.split(" | ")[0]
            spans = [a or b for a, b in SPAN.findall(line)]
            out += [(number, s) for s in spans if not NOT_A_MESSAGE.match(s)]
    return out


def _constants(path):
    """Every string a Python file can print: constants, and f-strings with \\0 for their fields."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError):
        return []
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            found.append(
                "".join(
                    v.value if isinstance(v, ast.Constant) else "\0"
                    for v in node.values
                    if isinstance(v, (ast.Constant, ast.FormattedValue))
                )
            )
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.append(node.value)
    return found


def _package_dir(name):
    spec = importlib.util.find_spec(name)
    return Path(spec.origin).parent if spec and spec.origin else None


def pool():
    """The strings of rra, its rules and dodo.py, the wrapper script, and the libraries whose
    messages the page quotes."""
    files = list((ROOT / "rra").rglob("*.py")) + list((ROOT / "rules").glob("*.py")) + [ROOT / "dodo.py"]
    for lib in ("doit", "click", "requests", "urllib3"):
        where = _package_dir(lib)
        if where:
            files += list(where.rglob("*.py"))
    strings = [s for f in files for s in _constants(f)]
    strings += _outside()
    strings.append((ROOT / "run_archiver.sh").read_text())
    strings.append("./run_archiver.sh: line 1: $2: unbound variable")  # bash's own words
    return "\n\x01".join(strings)


PREFIX = re.compile(r"^(rra: |WARNING |ERROR |INFO |FAILED )")
SEPARATORS = re.compile(r": |; |, |\(|\)|\[|\]| - | -- |\. ")


def fragments(message):
    """The fixed parts of a quoted message that say something: messages are composed (a prefix,
    the run, the file, the reason), so each part between placeholders is cut where parts join;
    the pieces of two words or more must each be text the code has."""
    pieces = []
    for part in PLACEHOLDER.split(PREFIX.sub("", message)):
        for piece in SEPARATORS.split(PREFIX.sub("", part.strip())):
            if piece[:1] in "/." and len(piece.split()) > 1:  # inside a path: from the next word
                piece = piece.split(None, 1)[1]
            pieces.append(piece.strip(" '\"`.-"))
    return [p for p in pieces if len(p.split()) >= 2]


def _outside():
    """Words rra passes on from Python, SQLite and the UconDB server (the test server speaks them)."""
    import errno
    import os

    words = [os.strerror(n) for n in errno.errorcode]
    words += [
        "'utf-8' codec can't decode byte",
        "unable to open database file",
        "database is locked",
        "No such file or directory",
        "Errno 2",
    ]
    import getopt
    import http.client

    words += list(http.client.responses.values()) + _constants(Path(getopt.__file__))
    words += _constants(ROOT / "tests" / "testserver.py")
    # the C++ artdaq_database and fhicl-cpp (their text reaches the FAILED line as it is;
    # tests/test_artdaqdb_cpp.py provokes them with the real library)
    words += ["detected at or near line", 'of file "-";', "Failed to load 1 file(s).", "in fhicl_to_json"]
    return words


def test_the_page_quotes_messages():
    found = messages()
    assert len(found) > 150, "the extraction found too few messages: %d" % len(found)


def test_every_quoted_message_is_printed_by_the_code():
    text = pool()
    missing = []
    for number, message in messages():
        lost = [f for f in fragments(message) if f not in text]
        if lost:
            missing.append("docs/troubleshooting.md:%d: %r (not in the source: %r)" % (number, message, lost))
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize("gone", ["stored along with another run", "already archived as it is"])
def test_messages_rra_no_longer_prints_are_not_quoted(gone):
    assert gone not in DOC.read_text()
