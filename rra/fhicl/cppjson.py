"""The JSON dialect of artdaq_database's C++ reader and writer (boost::spirit).

What differs from standard JSON, and how this module keeps it:

- Objects are ordered lists of pairs and duplicate keys are legal. `loads` returns
  `Object`, a `list` of `(key, value)` tuples with mapping helpers:
  `obj["k"]` is the value of the first pair with key "k" (KeyError if none; an int
  or slice index still works like a list), `obj["k"] = v` and `obj.set("k", v)`
  replace the first pair with that key or append one, `del obj["k"]` removes the
  first such pair, `"k" in obj` tests for a key, `get(k, default=None)`,
  `keys()`, `values()`, `items()` (lists, in order, duplicates included),
  `values_of(k)` (every value with key k), `copy()`. Equality is list equality:
  order and duplicates count. `Object(dict)` and `Object(pairs)` both work.
- Strings: the reader knows only the escapes \\ \" \b \f \n \r \t; there is no
  \\uXXXX, no \\/, and raw control characters are legal. `loads` returns decoded
  `str`; `dumps` escapes exactly these seven characters like the C++ to_json_string.
  A string whose source would not come back that way (a raw tab, a lone backslash)
  is returned as `RawStr`, a `str` that remembers its source text and is written
  back verbatim.
- No `null`. Numbers are ints, or `RawNumber` (a float keeping its source text).
- Bytes that are not UTF-8 survive: bytes are decoded with surrogateescape; encode
  the result of `dumps` with `encode_bytes` (or 'utf-8', 'surrogateescape').
- Layout: the C++ writer prints `"k" : v` pairs joined by ",\\n", `{\\n...\\n}`,
  `[\\n...\\n]`, empty containers `{\\n\\n}`, no indentation (`dumps(v)`).
  `dumps(v, compact=True)` prints one line without spaces. Texts the C++ side
  writes from fixed templates (SystemMetadata, the initial index.json) have their
  own spacing: `loads` keeps the source of any text not in the pretty layout, and
  `dumps` writes that source back while the value is unchanged, so
  `dumps(loads(b)) == b` for every file the C++ wrote.
- Speed: `loads` uses the json module when the text reads the same way there (no
  odd escapes, no null), else its own tokenizer; both pause the cyclic GC
  (`gc_paused`), which otherwise makes building big trees quadratic.
"""

import gc
import json
import re

from ..errors import RraError

__all__ = [
    "Object",
    "RawStr",
    "RawNumber",
    "JSONError",
    "loads",
    "dumps",
    "encode_bytes",
    "escape",
    "unescape",
    "gc_paused",
]


class JSONError(RraError, ValueError):
    """Text the C++ JSON reader would reject."""


class Object(list):
    """A JSON object: ordered (key, value) pairs, duplicates allowed."""

    def __init__(self, pairs=()):
        if pairs:
            super().__init__((k, v) for k, v in (pairs.items() if isinstance(pairs, dict) else pairs))

    def _find(self, key):
        for i, pair in enumerate(self):
            if pair[0] == key:
                return i
        return -1

    def __getitem__(self, key):
        if not isinstance(key, str):
            return super().__getitem__(key)
        i = self._find(key)
        if i < 0:
            raise KeyError(key)
        return list.__getitem__(self, i)[1]

    def __setitem__(self, key, value):
        if isinstance(key, str):
            self.set(key, value)
        else:
            super().__setitem__(key, value)

    def __delitem__(self, key):
        if not isinstance(key, str):
            return super().__delitem__(key)
        i = self._find(key)
        if i < 0:
            raise KeyError(key)
        super().__delitem__(i)

    def __contains__(self, key):
        if isinstance(key, str):
            return self._find(key) >= 0
        return super().__contains__(key)

    def __repr__(self):
        return "Object(%s)" % list.__repr__(self)

    def get(self, key, default=None):
        i = self._find(key)
        return default if i < 0 else list.__getitem__(self, i)[1]

    def set(self, key, value):
        i = self._find(key)
        if i < 0:
            self.append((key, value))
        else:
            list.__setitem__(self, i, (key, value))

    def keys(self):
        return [k for k, _ in self]

    def values(self):
        return [v for _, v in self]

    def items(self):
        return list(self)

    def values_of(self, key):
        return [v for k, v in self if k == key]

    def copy(self):
        return Object(self)


class RawStr(str):
    """A string whose JSON source is not what `escape` makes of it."""

    def __new__(cls, value, source):
        self = super().__new__(cls, value)
        self.source = source
        return self


class RawNumber(float):
    """A number written back exactly as it was read."""

    def __new__(cls, source):
        self = super().__new__(cls, source)
        self.source = source
        return self


_ESCAPES = {"\\": "\\\\", '"': '\\"', "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_UNESCAPES = {v[1]: k for k, v in _ESCAPES.items()}
_NEEDS_ESCAPE = re.compile(r'[\\"\b\f\n\r\t]')
_ESCAPE_SEQ = re.compile(r'\\([\\"bfnrt])')


def escape(text):
    """The C++ to_json_string: escape only \\ " and the five control escapes."""
    if _NEEDS_ESCAPE.search(text) is None:
        return text
    return _NEEDS_ESCAPE.sub(lambda m: _ESCAPES[m.group()], text)


def unescape(text):
    """The C++ from_json_string: undo the seven escapes, keep any other backslash."""
    if "\\" not in text:
        return text
    return _ESCAPE_SEQ.sub(lambda m: _UNESCAPES[m.group(1)], text)


def _string(source):
    if _NEEDS_ESCAPE.search(source) is None:
        return source
    value = unescape(source)
    return value if escape(value) == source else RawStr(value, source)


_TOKEN = re.compile(
    r"""[ \t\n\r\f\v]*(?:
    "([^"\\]*(?:\\.[^"\\]*)*)"
  | ([{}\[\],:])
  | (true|false)(?![A-Za-z0-9_])
  | ([-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]?(?i:nan|inf(?:inity)?))
)""",
    re.X | re.S,
)
_INT = re.compile(r"-?(?:0|[1-9][0-9]*)\Z")


class _Source(str):
    """Text kept on a loaded value to write it back with its own spacing."""


class gc_paused:
    """`with gc_paused():` pauses the cyclic GC while building big trees: its passes make that
    quadratic. A class, not a generator: it is entered once per small document too."""

    __slots__ = ("enabled",)

    def __enter__(self):
        self.enabled = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc):
        if self.enabled:
            gc.enable()


def _pairs(pairs, new=Object.__new__):
    obj = new(Object)
    obj += pairs
    return obj


def _no_constant(name):
    raise ValueError(name)


_DECODER = json.JSONDecoder(object_pairs_hook=_pairs, parse_float=RawNumber, parse_constant=_no_constant)
# text whose every backslash starts one of the seven escapes (a character class at a time: a search for
# the odd one out tries every position)
_SEVEN_ESCAPES = re.compile(r'[^\\]*+(?:\\[\\"bfnrt][^\\]*+)*+')


def _fast(text):
    """The json module where it reads exactly as the C++ does (else None)."""
    if "null" in text or ("\\" in text and _SEVEN_ESCAPES.fullmatch(text) is None):
        return None
    try:
        return _DECODER.decode(text)
    except (ValueError, RecursionError):
        return None


def loads(data):
    """Parse C++ dialect JSON (str or bytes) into Object/list/str/bool/int/RawNumber."""
    text = data.decode("utf-8", "surrogateescape") if isinstance(data, (bytes, bytearray)) else data
    with gc_paused():
        value = _fast(text)
        if value is None:
            tokens = _tokens(text)
            value, i = _parse(tokens, 0, text)
            if i != len(tokens):
                raise JSONError("unexpected %r after the top-level value" % (tokens[i][1],))
    if isinstance(value, Object) and not _pretty(text):
        _remember(value, text)
    return value


def _tokens(text):
    """Split text into (kind, value) tokens; kinds: s(tring) p(unct) b(ool) n(umber)."""
    out = []
    append = out.append
    pos, end = 0, len(text)
    match = _TOKEN.match
    while True:
        m = match(text, pos)
        if m is None:
            rest = text[pos:].lstrip(" \t\n\r\f\v")
            if rest:
                raise JSONError("invalid JSON at offset %d: %r" % (end - len(rest), rest[:40]))
            return out
        s, p, b, n = m.groups()
        if s is not None:
            append(("s", s))
        elif p is not None:
            append(("p", p))
        elif b is not None:
            append(("b", b == "true"))
        else:
            append(("n", n))
        pos = m.end()


def _parse(tokens, i, text):
    """Iterative parser over tokens: no recursion limit on deep documents."""
    stack = []
    n = len(tokens)
    while True:
        if i >= n:
            raise JSONError("unexpected end of JSON")
        kind, tok = tokens[i]
        i += 1
        if kind == "p":
            if tok == "{":
                if i < n and tokens[i] == ("p", "}"):
                    value, i = Object(), i + 1
                else:
                    stack.append((Object(), None))
                    i = _key(tokens, i, stack)
                    continue
            elif tok == "[":
                if i < n and tokens[i] == ("p", "]"):
                    value, i = [], i + 1
                else:
                    stack.append(([], None))
                    continue
            else:
                raise JSONError("unexpected %r" % tok)
        elif kind == "s":
            value = _string(tok)
        elif kind == "b":
            value = tok
        else:
            value = int(tok) if _INT.match(tok) else RawNumber(tok)
        while True:
            if not stack:
                return value, i
            container, key = stack[-1]
            if key is None:
                container.append(value)
            else:
                container.append((key, value))
            if i >= n:
                raise JSONError("unexpected end of JSON")
            kind, tok = tokens[i]
            i += 1
            close = "}" if key is not None else "]"
            if (kind, tok) == ("p", ","):
                if key is not None:
                    i = _key(tokens, i, stack)
                break
            if (kind, tok) == ("p", close):
                value = stack.pop()[0]
                continue
            raise JSONError('expected "," or %r, got %r' % (close, tok))


def _key(tokens, i, stack):
    if i + 1 >= len(tokens) or tokens[i][0] != "s" or tokens[i + 1] != ("p", ":"):
        raise JSONError('expected "key" : at token %d' % i)
    stack[-1] = (stack[-1][0], _string(tokens[i][1]))
    return i + 2


def _pretty(text):
    """Cheap test that text has the C++ writer's layout (else its source is kept)."""
    return text.startswith("{\n") and "\n " not in text and "\n\t" not in text


def _remember(value, text):
    value.source = _Source(text)
    value.snapshot = _freeze(value)


def _freeze(value):
    if isinstance(value, Object):
        return ("o",) + tuple((k, _freeze(v)) for k, v in value)
    if isinstance(value, list):
        return ("a",) + tuple(_freeze(v) for v in value)
    return (type(value), value)


def dumps(value, compact=False):
    """Write value the way the C++ JSON writer does (or on one line if compact)."""
    source = getattr(value, "source", None)
    if isinstance(source, _Source) and _freeze(value) == value.snapshot:
        return str(source)
    with gc_paused():
        if not compact:
            return _dump(value, {""}, 0)
        out = []
        _write(value, out.append, ",", ":", "")
        return "".join(out)


_needs_escape = _NEEDS_ESCAPE.search


def _esc(text):
    return text.source if type(text) is RawStr else escape(text)


def _plain(plain, strings):
    """True if none of strings needs escaping (and remember them)."""
    for text in strings:
        if text not in plain:
            if _needs_escape(text):
                return False
            plain.add(text)
    return True


def _dump(value, plain, depth):
    """Recursive writer of the C++ layout for the usual shallow documents; iterative past depth 200.

    `plain` holds the strings seen to need no escaping: keys, types and empty comments
    repeat, so most strings cost a set lookup instead of a scan. The '%' formats are
    literals on purpose: Python compiles those to f-strings.
    """
    if depth > 200:
        out = []
        _write(value, out.append, ",\n", " : ", "\n")
        return "".join(out)
    kind = type(value)
    if kind is not Object and kind is not list:
        if isinstance(value, dict):
            value, kind = Object(value), Object
        elif isinstance(value, Object):
            kind = Object
        elif isinstance(value, (list, tuple)):
            kind = list
        else:
            return _scalar(value)
    if kind is Object:
        if not value:
            return "{\n\n}"
        parts = []
        append, add = parts.append, plain.add
        for key, item in value:
            if key not in plain:
                if _needs_escape(key):
                    key = _esc(key)
                else:
                    add(key)
            if type(item) is str:
                if item not in plain:
                    if _needs_escape(item):
                        item = escape(item)
                    else:
                        add(item)
                append('"%s" : "%s"' % (key, item))
            elif type(item) is Object and len(item) == 3:
                # most often the metadata of a scalar: three plain strings, written without a call
                (k1, v1), (k2, v2), (k3, v3) = item
                if (
                    type(v1) is str
                    and type(v2) is str
                    and type(v3) is str
                    and (
                        (k1 in plain and v1 in plain and k2 in plain and v2 in plain and k3 in plain and v3 in plain)
                        or _plain(plain, (k1, v1, k2, v2, k3, v3))
                    )
                ):
                    append('"%s" : {\n"%s" : "%s",\n"%s" : "%s",\n"%s" : "%s"\n}' % (key, k1, v1, k2, v2, k3, v3))
                else:
                    append('"%s" : %s' % (key, _dump(item, plain, depth + 1)))
            elif type(item) is int:
                append('"%s" : %d' % (key, item))
            else:
                append('"%s" : %s' % (key, _dump(item, plain, depth + 1)))
        return "{\n" + ",\n".join(parts) + "\n}"
    if not value:
        return "[\n\n]"
    parts = []
    append = parts.append
    for item in value:
        if type(item) is str:
            append('"%s"' % (escape(item) if _needs_escape(item) else item))
        else:
            append(_dump(item, plain, depth + 1))
    return "[\n" + ",\n".join(parts) + "\n]"


def _scalar(value):
    if isinstance(value, str):
        return '"%s"' % (value.source if type(value) is RawStr else escape(value))
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, RawNumber):
        return value.source
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return repr(value)
    raise TypeError("cannot write %r in the artdaq_database JSON dialect" % (value,))


def _write(value, emit, sep, colon, nl):
    """Iterative writer: an explicit stack instead of recursion."""
    stack = []
    while True:
        if isinstance(value, dict):
            value = Object(value)
        if isinstance(value, Object):
            emit("{" + nl)
            stack.append([iter(value), nl + "}", True, True])
        elif isinstance(value, (list, tuple)):
            emit("[" + nl)
            stack.append([iter(value), nl + "]", True, False])
        else:
            emit(_scalar(value))
        while stack:
            top = stack[-1]
            nxt = next(top[0], _END)
            if nxt is _END:
                emit(top[1])
                stack.pop()
                continue
            if not top[2]:
                emit(sep)
            top[2] = False
            if top[3]:
                key, value = nxt
                emit(_scalar(key) + colon)
            else:
                value = nxt
            break
        else:
            return


_END = object()


def encode_bytes(text):
    """The bytes of a dumps() result, non-UTF-8 input bytes restored."""
    return text.encode("utf-8", "surrogateescape")
