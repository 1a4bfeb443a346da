"""FHiCL syntax as fhicl-cpp parses it in snippet mode: nothing resolved, raw text kept.

The result is a tree of values `(type, raw, line, payload)`: payload is, for a
table, a dict name -> (value, protection, in_prolog) in first-definition order
(a redefinition replaces the value in place, as the C++ ordered table does), for
a sequence a list of values, else None. Top-level entries are all kept, duplicates
included (fhicl-cpp's snippet-mode document is a list there). The parser is iterative: nesting depth
is limited only by memory.
"""
import bisect
import re

from .errors import FhiclError

_SKIP = re.compile(r'(?:\s+|#[^\n]*|//[^\n]*)*')
_NAME = r'[A-Za-z_][A-Za-z0-9_]*'
_KEY = re.compile(_NAME + r'(?:\.' + _NAME + r'|\[[0-9]+\])*')
_SIMPLE_KEY = re.compile('(' + _KEY.pattern + r')[ \t]*:[ \t]*(?![\s#/])')
_PROTECTION = re.compile(r'@protect_(?:ignore|error)(?![A-Za-z0-9_])')
_WORD = re.compile(r'[^\s,\]\}\[\{]+')
_END = re.compile(r'[\s,\]\}]|\Z')
_NUMBER = r'[-+]?(?:infinity|0[xX][0-9a-fA-F]+|0[bB][01]+|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)'
_ATOM = re.compile('(?:' + '|'.join('(?P<%s>%s)' % pair for pair in [
    ('number', _NUMBER),
    ('bool', r'true|false'),
    ('nil', r'@nil'),
    ('string_unquoted', _NAME + r'|[0-9]+[A-Za-z_][A-Za-z0-9_]*|@erase|@(?:local|sequence|table)::' + _KEY.pattern),
    ('tableid', r'@id::' + _KEY.pattern),
]) + r')(?=[\s,\]\}]|\Z)')
_COMPLEX = re.compile(r'\(\s*(' + _NUMBER + r')\s*,\s*(' + _NUMBER + r')\s*\)')
_KEYWORD = re.compile(r'(BEGIN_PROLOG|END_PROLOG)(?![A-Za-z0-9_.\[])')


class _Table:
    __slots__ = ('entries', 'line', 'key', 'protection', 'open_at')

    def __init__(self, line, open_at):
        self.entries, self.line, self.open_at = {}, line, open_at
        self.key = self.protection = None


class _Sequence:
    __slots__ = ('items', 'line', 'open_at')

    def __init__(self, line, open_at):
        self.items, self.line, self.open_at = [], line, open_at


class _Source:
    """Text with line/column lookup for values and error messages."""

    def __init__(self, text, name):
        self.text, self.name = text, name
        self.newlines = [m.start() for m in re.finditer('\n', text)]

    def line(self, pos):
        return bisect.bisect_left(self.newlines, pos) + 1

    def error(self, message, pos):
        line = self.line(pos)
        column = pos - (self.newlines[line - 2] + 1 if line > 1 else 0) + 1
        snippet = self.text[pos:pos + 40].split('\n', 1)[0] or ('<end of file>' if pos >= len(self.text) else '')
        return FhiclError(message, self.name, line, column, snippet)


def parse(text, name=''):
    """Parse FHiCL text into its top-level entries [(name, value, protection, in_prolog)]."""
    src = _Source(text, name)
    n = len(text)
    skip = _SKIP.match
    top = _Table(0, 0)
    frames = [top]
    in_prolog = seen_main = False
    pos = skip(text, 0).end()
    expect_value = False
    while True:
        if not expect_value:
            frame = frames[-1]
            if frame is top:
                if pos >= n:
                    if in_prolog:
                        raise src.error('BEGIN_PROLOG without END_PROLOG', pos)
                    return list(top.entries.values())
                m = _KEYWORD.match(text, pos)
                if m:
                    if m.group(1) == 'BEGIN_PROLOG':
                        if in_prolog or seen_main:
                            raise src.error('BEGIN_PROLOG must come first and cannot nest', pos)
                        in_prolog = True
                    elif not in_prolog:
                        raise src.error('END_PROLOG without BEGIN_PROLOG', pos)
                    else:
                        in_prolog = False
                    pos = skip(text, m.end()).end()
                    continue
                seen_main = seen_main or not in_prolog
            elif pos >= n:
                raise src.error('unterminated table opened here', frame.open_at)
            if frame is top or text[pos] != '}':
                pos = _key(src, frame, pos)
                expect_value = True
                continue
            frames.pop()
            value = ('table', '', frame.line, frame.entries)
            pos = skip(text, pos + 1).end()
        else:
            c = text[pos] if pos < n else ''
            if c == '{':
                frames.append(_Table(src.line(pos), pos))
                pos = skip(text, pos + 1).end()
                expect_value = False
                continue
            if c == '[':
                frames.append(_Sequence(src.line(pos), pos))
                pos = skip(text, pos + 1).end()
                if text.startswith(']', pos):
                    seq = frames.pop()
                    value = ('sequence', '', seq.line, seq.items)
                    pos = skip(text, pos + 1).end()
                else:
                    continue
            else:
                value, pos = _atom(src, pos)
                pos = skip(text, pos).end()
        while True:
            frame = frames[-1]
            if frame is top:
                top.entries[len(top.entries)] = (frame.key, value, frame.protection, in_prolog)
                expect_value = False
                break
            if isinstance(frame, _Table):
                frame.entries[frame.key] = (value, frame.protection, in_prolog)
                expect_value = False
                break
            frame.items.append(value)
            if text.startswith(',', pos):
                pos = skip(text, pos + 1).end()
                expect_value = True
                break
            if text.startswith(']', pos):
                frames.pop()
                value = ('sequence', '', frame.line, frame.items)
                pos = skip(text, pos + 1).end()
                continue
            if pos >= n:
                raise src.error('unterminated sequence opened here', frame.open_at)
            raise src.error("expected ',' or ']' in sequence", pos)


def _key(src, table, pos):
    """Read `name [@protect_x] :` and leave it pending on the table."""
    text = src.text
    m = _SIMPLE_KEY.match(text, pos)
    if m:
        table.key, table.protection = m.group(1), None
        return m.end()
    m = _KEY.match(text, pos)
    if m is None:
        if text.startswith('@table::', pos):
            raise src.error('@table:: splice is not supported in snippet mode (the C++ library aborts)', pos)
        if text.startswith(('}', ']', ',', ':'), pos) or pos >= len(text):
            raise src.error('expected a name', pos)
        raise src.error('invalid name', pos)
    table.key = m.group()
    pos = _SKIP.match(text, m.end()).end()
    p = _PROTECTION.match(text, pos)
    table.protection = None
    if p:
        table.protection = p.group()
        pos = _SKIP.match(text, p.end()).end()
    if not text.startswith(':', pos):
        raise src.error("expected ':' after name %r" % table.key, pos)
    return _SKIP.match(text, pos + 1).end()


def _atom(src, pos):
    """One scalar: its type and raw text; it must end at space, ',', ']', '}' or EOF."""
    text = src.text
    c = text[pos] if pos < len(text) else ''
    if c == '"':
        end = pos
        while True:
            end = text.find('"', end + 1)
            if end < 0:
                raise src.error('unterminated double-quoted string', pos)
            if text[end - 1] != '\\':
                break
        kind, end = 'string_doublequoted', end + 1
    elif c == "'":
        end = text.find("'", pos + 1)
        if end < 0:
            raise src.error('unterminated single-quoted string', pos)
        kind, end = 'string_singlequoted', end + 1
    elif c == '(':
        m = _COMPLEX.match(text, pos)
        if m is None:
            raise src.error('invalid complex number', pos)
        kind, end = 'complex', m.end()
    elif c == '':
        raise src.error('expected a value', pos)
    else:
        m = _ATOM.match(text, pos)
        if m is None:
            word = _WORD.match(text, pos)
            if word is None:
                raise src.error('expected a value', pos)
            raise src.error('invalid value %r' % word.group(), pos)
        return (m.lastgroup, m.group(), src.line(pos), None), m.end()
    if _END.match(text, end) is None:
        raise src.error('unexpected text after value', end)
    return (kind, text[pos:end], src.line(pos), None), end
