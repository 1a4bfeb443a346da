"""FHiCL syntax as fhicl-cpp parses it in snippet mode, written straight as the fhicl_to_json sections' JSON.

One pass writes both halves of a section, as the C++ JSON writer lays them out: its data
(raw text kept, strings unquoted, nothing resolved) and its metadata (per value its type,
the comment on the line above, the annotation on its own line, its protection). No tree
is built: each value becomes one piece of text in each half, each container one piece
where it opens and one where it closes. Within a table a redefinition replaces the value
in place, as the C++ ordered table does (the table's pieces are regrouped when it closes);
top-level entries are all kept, duplicates included (fhicl-cpp's snippet-mode document is
a list there). The parser is iterative: nesting depth is limited only by memory.

Speed: a key (with its colon) and a scalar value (with the space after it) are one regex
match each. Anything those do not match goes through the slower functions below, which
either read it the same way or word the error.
"""

import re

from .cppjson import _needs_escape, escape
from .errors import FhiclError

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_KEY = re.compile(_NAME + r"(?:\." + _NAME + r"|\[[0-9]+\])*")
_PROTECTION = re.compile(r"@protect_(?:ignore|error)(?![A-Za-z0-9_])")
_WORD = re.compile(r"[^\s,\]\}\[\{]+")
_END = re.compile(r"[\s,\]\}]|\Z")
_NUMBER = r"[-+]?(?:infinity|0[xX][0-9a-fA-F]+|0[bB][01]+|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)"
_ATOMS = [
    ("number", _NUMBER),
    ("bool", r"true|false"),
    ("nil", r"@nil"),
    ("string_unquoted", _NAME + r"|[0-9]+[A-Za-z_][A-Za-z0-9_]*|@erase|@(?:local|sequence|table)::" + _KEY.pattern),
    ("tableid", r"@id::" + _KEY.pattern),
]
_ATOM = re.compile("(?:" + "|".join("(?P<%s>%s)" % pair for pair in _ATOMS) + r")(?=[\s,\]\}]|\Z)")
_COMPLEX = re.compile(r"\(\s*(" + _NUMBER + r")\s*,\s*(" + _NUMBER + r")\s*\)")
_KEYWORD = re.compile(r"(BEGIN_PROLOG|END_PROLOG)(?![A-Za-z0-9_.\[])")

# The fast paths read what the patterns above read, with possessive repeats (cheaper, and a match
# never backtracks into a reading the slow path would not take): no shorter reading of a name or a
# number is followed by what may end one.
_SKIP_ON = r"\s*+(?:(?:#|//)[^\n]*+\s*+)*+"
_SKIP = re.compile(_SKIP_ON)
_NAME_ON = r"[A-Za-z_][A-Za-z0-9_]*+"
_KEY_ON = _NAME_ON + r"(?:\." + _NAME_ON + r"|\[[0-9]++\])*+"
_NUMBER_ON = (
    r"[-+]?+(?:infinity|0[xX][0-9a-fA-F]++|0[bB][01]++"
    r"|(?:[0-9]++\.?+[0-9]*+|\.[0-9]++)(?:[eE][-+]?+[0-9]++)?+)"
)
_FAST_KEY = re.compile(
    "(" + _KEY_ON + ")" + _SKIP_ON + r"(@protect_(?:ignore|error)(?![A-Za-z0-9_]))?" + _SKIP_ON + ":" + _SKIP_ON
)
_SCALAR = (
    '(?:"(?P<string_doublequoted>[^"]*+(?:(?<=\\\\)"[^"]*+)*+)"|\'(?P<string_singlequoted>[^\']*+)\'|'
    + "|".join(
        "(?P<%s>%s)" % pair
        for pair in [
            ("complex", r"\(\s*+" + _NUMBER_ON + r"\s*+,\s*+" + _NUMBER_ON + r"\s*+\)"),
            ("number", _NUMBER_ON),
            ("bool", r"true|false"),
            ("nil", r"@nil"),
            (
                "string_unquoted",
                _NAME_ON + r"|[0-9]++[A-Za-z_][A-Za-z0-9_]*+|@erase|@(?:local|sequence|table)::" + _KEY_ON,
            ),
            ("tableid", r"@id::" + _KEY_ON),
        ]
    )
    + r")(?=[\s,\]\}]|\Z)"
    + _SKIP_ON
)
_FAST_VALUE = re.compile(_SCALAR)
# `key: scalar` whole; not a prolog keyword, which the top level reads as one
_FAST_ENTRY = re.compile(r"(?!(?:BEGIN|END)_PROLOG(?![A-Za-z0-9_.\[]))" + _FAST_KEY.pattern + "(?:" + _SCALAR + ")?")
_INCLUDE_KEY = "fhicl_pound_include_"
# values whose raw text may hold a character the JSON writer escapes (names, numbers, @-words never do)
_ESCAPABLE = frozenset(["string_doublequoted", "string_singlequoted", "complex"])
# the metadata of a scalar without comment, annotation or protection, after its key, by type
_PLAIN = {
    kind: '" : {\n"type" : "%s",\n"comment" : "",\n"annotation" : ""\n}' % kind
    for kind in ["string_doublequoted", "string_singlequoted", "complex"] + [k for k, _ in _ATOMS]
}


class _Source:
    """Text with line/column lookup for error messages."""

    def __init__(self, text, name):
        self.text, self.name = text, name

    def error(self, message, pos):
        text = self.text
        line = text.count("\n", 0, pos) + 1
        column = pos - (text.rfind("\n", 0, pos) + 1) + 1
        snippet = text[pos : pos + 40].split("\n", 1)[0] or ("<end of file>" if pos >= len(text) else "")
        return FhiclError(message, self.name, line, column, snippet)


def parse(text, name="", comments=None):
    """The sections of FHiCL text as C++ dialect JSON: (prolog, prolog_meta, main, main_meta), each
    the inside of its object (what goes between `{\\n` and `\\n}`).

    `comments` is {line: comment} (comments.scan of the text before includes were hidden);
    without it every comment and annotation is empty. FhiclError if the text is not FHiCL.
    """
    found = comments or {}
    includes = _INCLUDE_KEY in text
    src = _Source(text, name)
    n = len(text)
    skip, fast_entry, fast_value, count = _SKIP.match, _FAST_ENTRY.match, _FAST_VALUE.match, text.count
    # Comments escaped once: the one above a line (unless it is a // comment or an include), the one on it.
    above, on = {}, {}
    for number, comment in found.items():
        on[number] = escaped = escape(comment)
        above[number + 1] = "" if comment[0] == "/" or "#include " in comment else escaped
    # The output: one list of pieces for data, one for metadata, appended in step (one piece each per
    # scalar, per container opened, per container closed), so an entry starts at the same index in both.
    data, meta = [], []
    data_append, meta_append = data.append, meta.append
    # The open container: in a table the keys of its entries and where each starts (to redo the
    # table if a key repeats), in a sequence the index of the next element; where it opened; and the
    # separator before its next entry. The stack holds the ones around it; empty at the top level.
    keys, starts, index, is_seq, open_at = [], [], 0, False, 0
    sep = ""
    stack = []
    in_prolog = seen_main = False
    main_at = 0
    line_at, line = 0, 1
    pos = skip(text, 0).end()
    expect_value = False
    while True:
        if not expect_value:
            if not stack:
                if pos >= n:
                    if in_prolog:
                        raise src.error("BEGIN_PROLOG without END_PROLOG", pos)
                    main = data[main_at:], meta[main_at:]
                    return "".join(data[:main_at]), "".join(meta[:main_at]), "".join(main[0]), "".join(main[1])
                if text.startswith(("BEGIN_PROLOG", "END_PROLOG"), pos):
                    m = _KEYWORD.match(text, pos)
                    if m:
                        if m.group(1) == "BEGIN_PROLOG":
                            if in_prolog or seen_main:
                                raise src.error("BEGIN_PROLOG must come first and cannot nest", pos)
                            in_prolog = True
                            sep = ",\n" if data else ""
                        elif not in_prolog:
                            raise src.error("END_PROLOG without BEGIN_PROLOG", pos)
                        else:
                            in_prolog = False
                            main_at, sep = len(data), ""
                        pos = skip(text, m.end()).end()
                        continue
                seen_main = seen_main or not in_prolog
            elif pos >= n:
                raise src.error("unterminated table opened here", open_at)
            elif text[pos] == "}":
                if len(keys) > 1 and len(set(keys)) < len(keys):
                    _redefine(data, meta, keys, starts)
                data_append("\n}")
                meta_append("\n}\n}")
                keys, starts, index, is_seq, open_at = stack.pop()
                sep = ",\n"
                pos = skip(text, pos + 1).end()
                expect_value = None  # a value ended: go on to what follows one
            if expect_value is False:
                # The usual `key: scalar` entries, one match each, while they last.
                m = fast_entry(text, pos)
                if m is not None and m.lastindex > 2:
                    keys_append, starts_append = keys.append, starts.append
                    while m is not None and m.lastindex > 2:
                        i = m.lastindex
                        key, protection, value = m.group(1, 2, i)
                        kind = m.lastgroup
                        if kind in _ESCAPABLE and _needs_escape(value):
                            value = escape(value)
                        keys_append(key)
                        starts_append(len(data))
                        data_append(f'{sep}"{key}" : "{value}"')
                        if found:
                            start = m.start(i)
                            line += count("\n", line_at, start)
                            line_at = start
                            if includes and _INCLUDE_KEY in key:
                                comment = annotation = ""
                            else:
                                comment, annotation = above.get(line, ""), on.get(line, "")
                            if comment or annotation or protection:
                                meta_append(_scalar_meta(sep, key, kind, comment, annotation, protection))
                            else:
                                meta_append(f'{sep}"{key}{_PLAIN[kind]}')
                        elif protection:
                            meta_append(_scalar_meta(sep, key, kind, "", "", protection))
                        else:
                            meta_append(f'{sep}"{key}{_PLAIN[kind]}')
                        sep = ",\n"
                        pos = m.end()
                        m = fast_entry(text, pos)
                    continue
                if m is None:
                    key, protection, pos = _key(src, pos)
                else:
                    key, protection = m.group(1, 2)
                    pos = m.end()
                expect_value = True
                continue
        else:
            if is_seq:
                key, protection = str(index), None
                index += 1
            start = pos
            c = text[pos] if pos < n else ""
            if c == "{" or c == "[":
                kind = "table" if c == "{" else "sequence"
                pos = skip(text, pos + 1).end()
            elif (m := fast_value(text, pos)) is not None:
                i = m.lastindex
                kind = m.lastgroup
                value = m.group(i)
                start = m.start(i)
                pos = m.end()
            else:
                kind, value, pos = _atom(src, pos)
                pos = skip(text, pos).end()
                if kind == "string_doublequoted" or kind == "string_singlequoted":
                    value = value[1:-1]
            # its metadata: type, comment, annotation (not for a table, but for an include's), protection
            if found and not (includes and _INCLUDE_KEY in key):
                line += count("\n", line_at, start)
                line_at = start
                comment = above.get(line, "")
                annotation = None if kind == "table" else on.get(line, "")
            elif kind == "table" and not (includes and _INCLUDE_KEY in key):
                comment, annotation = "", None
            else:
                comment = annotation = ""
            head = f'{sep}"{key}" : {{\n"type" : "{kind}",\n"comment" : "{comment}"'
            if annotation is not None:
                head = f'{head},\n"annotation" : "{annotation}"'
            if protection:
                head = f'{head},\n"protection" : "{protection}"'
            # into the open container
            if not is_seq:
                keys.append(key)
                starts.append(len(data))
                prefix = f'{sep}"{key}" : '
            else:
                prefix = sep
            if kind == "table" or kind == "sequence":
                data_append(prefix + ("{\n" if kind == "table" else "[\n"))
                meta_append(head + ',\n"children" : {\n')
                stack.append((keys, starts, index, is_seq, open_at))
                sep, open_at = "", start
                if kind == "table":
                    keys, starts, is_seq = [], [], False
                    expect_value = False
                    continue
                index, is_seq = 0, True
                if not text.startswith("]", pos):
                    continue
                data_append("\n]")
                meta_append("\n}\n}")
                keys, starts, index, is_seq, open_at = stack.pop()
                pos = skip(text, pos + 1).end()
            else:
                if kind in _ESCAPABLE and _needs_escape(value):
                    value = escape(value)
                data_append(f'{prefix}"{value}"')
                meta_append(head + "\n}")
            sep = ",\n"
        # A value ended: in a sequence a ',' or ']' follows; in a table the next key.
        while True:
            if not is_seq:
                expect_value = False
                break
            if text.startswith(",", pos):
                pos = skip(text, pos + 1).end()
                expect_value = True
                break
            if text.startswith("]", pos):
                data_append("\n]")
                meta_append("\n}\n}")
                keys, starts, index, is_seq, open_at = stack.pop()
                sep = ",\n"
                pos = skip(text, pos + 1).end()
                continue
            if pos >= n:
                raise src.error("unterminated sequence opened here", open_at)
            raise src.error("expected ',' or ']' in sequence", pos)


def _scalar_meta(sep, key, kind, comment, annotation, protection):
    if protection:
        return (
            f'{sep}"{key}" : {{\n"type" : "{kind}",\n"comment" : "{comment}",\n"annotation" : "{annotation}",\n'
            f'"protection" : "{protection}"\n}}'
        )
    return f'{sep}"{key}" : {{\n"type" : "{kind}",\n"comment" : "{comment}",\n"annotation" : "{annotation}"\n}}'


def _redefine(data, meta, keys, starts):
    """A table that named a key twice: the first place, the last value (the C++ ordered table).

    Its entries are data[starts[0]:] (and the same in meta); each begins with ',\\n' but the first.
    """
    first = starts[0]
    bounds = starts + [len(data)]
    last = {}
    for j, key in enumerate(keys):
        last[key] = bounds[j], bounds[j + 1]
    new_data, new_meta = [], []
    for a, b in last.values():
        d, m = data[a:b], meta[a:b]
        sep = ",\n" if new_data else ""
        d[0] = sep + d[0].removeprefix(",\n")
        m[0] = sep + m[0].removeprefix(",\n")
        new_data += d
        new_meta += m
    data[first:] = new_data
    meta[first:] = new_meta


def _key(src, pos):
    """Read `name [@protect_x] :` the slow way: (name, protection, position after), or the error."""
    text = src.text
    m = _KEY.match(text, pos)
    if m is None:
        if text.startswith("@table::", pos):
            raise src.error("@table:: splice is not supported in snippet mode (the C++ library aborts)", pos)
        if text.startswith(("}", "]", ",", ":"), pos) or pos >= len(text):
            raise src.error("expected a name", pos)
        raise src.error("invalid name", pos)
    key = m.group()
    pos = _SKIP.match(text, m.end()).end()
    p = _PROTECTION.match(text, pos)
    protection = None
    if p:
        protection = p.group()
        pos = _SKIP.match(text, p.end()).end()
    if not text.startswith(":", pos):
        raise src.error("expected ':' after name %r" % key, pos)
    return key, protection, _SKIP.match(text, pos + 1).end()


def _atom(src, pos):
    """One scalar the slow way: (type, raw text, end); it must end at space, ',', ']', '}' or EOF."""
    text = src.text
    c = text[pos] if pos < len(text) else ""
    if c == '"':
        end = pos
        while True:
            end = text.find('"', end + 1)
            if end < 0:
                raise src.error("unterminated double-quoted string", pos)
            if text[end - 1] != "\\":
                break
        kind, end = "string_doublequoted", end + 1
    elif c == "'":
        end = text.find("'", pos + 1)
        if end < 0:
            raise src.error("unterminated single-quoted string", pos)
        kind, end = "string_singlequoted", end + 1
    elif c == "(":
        m = _COMPLEX.match(text, pos)
        if m is None:
            raise src.error("invalid complex number", pos)
        kind, end = "complex", m.end()
    elif c == "":
        raise src.error("expected a value", pos)
    else:
        m = _ATOM.match(text, pos)
        if m is None:
            word = _WORD.match(text, pos)
            if word is None:
                raise src.error("expected a value", pos)
            raise src.error("invalid value %r" % word.group(), pos)
        return m.lastgroup, m.group(), m.end()
    if _END.match(text, end) is None:
        raise src.error("unexpected text after value", end)
    return kind, text[pos:end], end
