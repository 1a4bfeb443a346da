"""FHiCL syntax as fhicl-cpp parses it in snippet mode, read straight into the fhicl_to_json sections.

One pass builds both halves of a section: its data (raw text kept, strings unquoted,
nothing resolved) and its metadata (per value its type, the comment on the line above,
the annotation on its own line, its protection). Within a table a redefinition replaces
the value in place, as the C++ ordered table does; top-level entries are all kept,
duplicates included (fhicl-cpp's snippet-mode document is a list there). The parser is
iterative: nesting depth is limited only by memory.

Speed: a key (with its colon) and a scalar value (with the space after it) are one regex
match each. Anything those do not match goes through the slower functions below, which
either read it the same way or word the error.
"""
import re

from .cppjson import Object
from .errors import FhiclError

_NAME = r'[A-Za-z_][A-Za-z0-9_]*'
_KEY = re.compile(_NAME + r'(?:\.' + _NAME + r'|\[[0-9]+\])*')
_PROTECTION = re.compile(r'@protect_(?:ignore|error)(?![A-Za-z0-9_])')
_WORD = re.compile(r'[^\s,\]\}\[\{]+')
_END = re.compile(r'[\s,\]\}]|\Z')
_NUMBER = r'[-+]?(?:infinity|0[xX][0-9a-fA-F]+|0[bB][01]+|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)'
_ATOMS = [
    ('number', _NUMBER),
    ('bool', r'true|false'),
    ('nil', r'@nil'),
    ('string_unquoted', _NAME + r'|[0-9]+[A-Za-z_][A-Za-z0-9_]*|@erase|@(?:local|sequence|table)::' + _KEY.pattern),
    ('tableid', r'@id::' + _KEY.pattern),
]
_ATOM = re.compile('(?:' + '|'.join('(?P<%s>%s)' % pair for pair in _ATOMS) + r')(?=[\s,\]\}]|\Z)')
_COMPLEX = re.compile(r'\(\s*(' + _NUMBER + r')\s*,\s*(' + _NUMBER + r')\s*\)')
_KEYWORD = re.compile(r'(BEGIN_PROLOG|END_PROLOG)(?![A-Za-z0-9_.\[])')

# The fast paths read what the patterns above read, with possessive repeats (cheaper, and a match
# never backtracks into a reading the slow path would not take): no shorter reading of a name or a
# number is followed by what may end one.
_SKIP_ON = r'\s*+(?:(?:#|//)[^\n]*+\s*+)*+'
_SKIP = re.compile(_SKIP_ON)
_NAME_ON = r'[A-Za-z_][A-Za-z0-9_]*+'
_KEY_ON = _NAME_ON + r'(?:\.' + _NAME_ON + r'|\[[0-9]++\])*+'
_NUMBER_ON = (r'[-+]?+(?:infinity|0[xX][0-9a-fA-F]++|0[bB][01]++'
              r'|(?:[0-9]++\.?+[0-9]*+|\.[0-9]++)(?:[eE][-+]?+[0-9]++)?+)')
_FAST_KEY = re.compile('(' + _KEY_ON + ')' + _SKIP_ON + r'(@protect_(?:ignore|error)(?![A-Za-z0-9_]))?'
                       + _SKIP_ON + ':' + _SKIP_ON)
_SCALAR = ('(?:"(?P<string_doublequoted>[^"]*+(?:(?<=\\\\)"[^"]*+)*+)"|\'(?P<string_singlequoted>[^\']*+)\'|'
           + '|'.join('(?P<%s>%s)' % pair for pair in [
               ('complex', r'\(\s*+' + _NUMBER_ON + r'\s*+,\s*+' + _NUMBER_ON + r'\s*+\)'),
               ('number', _NUMBER_ON),
               ('bool', r'true|false'),
               ('nil', r'@nil'),
               ('string_unquoted',
                _NAME_ON + r'|[0-9]++[A-Za-z_][A-Za-z0-9_]*+|@erase|@(?:local|sequence|table)::' + _KEY_ON),
               ('tableid', r'@id::' + _KEY_ON)])
           + r')(?=[\s,\]\}]|\Z)' + _SKIP_ON)
_FAST_VALUE = re.compile(_SCALAR)
# `key: scalar` whole; not a prolog keyword, which the top level reads as one
_FAST_ENTRY = re.compile(r'(?!(?:BEGIN|END)_PROLOG(?![A-Za-z0-9_.\[]))' + _FAST_KEY.pattern
                         + '(?:' + _SCALAR + ')?')
_INCLUDE_KEY = 'fhicl_pound_include_'
_new = Object.__new__
# metadata of a scalar without comments, by type
_PLAIN = {kind: (('type', kind), ('comment', ''), ('annotation', ''))
          for kind in ['string_doublequoted', 'string_singlequoted', 'complex'] + [k for k, _ in _ATOMS]}


class _Source:
    """Text with line/column lookup for error messages."""

    def __init__(self, text, name):
        self.text, self.name = text, name

    def error(self, message, pos):
        text = self.text
        line = text.count('\n', 0, pos) + 1
        column = pos - (text.rfind('\n', 0, pos) + 1) + 1
        snippet = text[pos:pos + 40].split('\n', 1)[0] or ('<end of file>' if pos >= len(text) else '')
        return FhiclError(message, self.name, line, column, snippet)


def parse(text, name='', comments=None):
    """The sections (prolog, prolog_meta, main, main_meta) of FHiCL text, as cppjson Objects.

    `comments` is {line: comment} (comments.scan of the text before includes were hidden);
    without it every comment and annotation is empty. FhiclError if the text is not FHiCL.
    """
    found = comments or {}
    includes = _INCLUDE_KEY in text
    src = _Source(text, name)
    n = len(text)
    skip, fast_entry, fast_value = _SKIP.match, _FAST_ENTRY.match, _FAST_VALUE.match
    prolog, prolog_meta, main, main_meta = _new(Object), _new(Object), _new(Object), _new(Object)
    # The open container (its data, its metadata children, whether it is a sequence, where it
    # opened); the stack holds the ones around it, and is empty at the top level.
    data, meta, is_seq, open_at = main, main_meta, False, 0
    stack = []
    in_prolog = seen_main = False
    line_at, line = 0, 1
    pos = skip(text, 0).end()
    expect_value = False
    while True:
        if not expect_value:
            if not stack:
                if pos >= n:
                    if in_prolog:
                        raise src.error('BEGIN_PROLOG without END_PROLOG', pos)
                    return prolog, prolog_meta, main, main_meta
                if text.startswith(('BEGIN_PROLOG', 'END_PROLOG'), pos):
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
                data, meta = (prolog, prolog_meta) if in_prolog else (main, main_meta)
            elif pos >= n:
                raise src.error('unterminated table opened here', open_at)
            elif text[pos] == '}':
                if len(data) > 1 and len(dict(iter(data))) < len(data):
                    _redefine(data, meta)
                data, meta, is_seq, open_at = stack.pop()
                pos = skip(text, pos + 1).end()
                expect_value = None  # a value ended: go on to what follows one
            if expect_value is False:
                # The usual `key: scalar` entries, one match each, while they last.
                m = fast_entry(text, pos)
                if m is not None and m.lastindex > 2:
                    while m is not None and m.lastindex > 2:
                        i = m.lastindex
                        key, protection, value = m.group(1, 2, i)
                        node = _new(Object)
                        if found:
                            start = m.start(i)
                            line += text.count('\n', line_at, start)
                            line_at = start
                            if includes and _INCLUDE_KEY in key:
                                comment = annotation = ''
                            else:
                                comment = found.get(line - 1, '')
                                if comment and (comment[0] == '/' or '#include ' in comment):
                                    comment = ''
                                annotation = found.get(line, '')
                            node += (('type', m.lastgroup), ('comment', comment), ('annotation', annotation))
                        else:
                            node += _PLAIN[m.lastgroup]
                        if protection:
                            node.append(('protection', protection))
                        data.append((key, value))
                        meta.append((key, node))
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
                key, protection = str(len(data)), None
            start = pos
            c = text[pos] if pos < n else ''
            if c == '{' or c == '[':
                kind = 'table' if c == '{' else 'sequence'
                value = _new(Object) if kind == 'table' else []
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
                if kind == 'string_doublequoted' or kind == 'string_singlequoted':
                    value = value[1:-1]
            # its metadata
            if found and not (includes and _INCLUDE_KEY in key):
                line += text.count('\n', line_at, start)
                line_at = start
                comment = found.get(line - 1, '')
                if comment and (comment[0] == '/' or '#include ' in comment):
                    comment = ''
                if kind == 'table':
                    pairs = [('type', kind), ('comment', comment)]
                else:
                    pairs = [('type', kind), ('comment', comment), ('annotation', found.get(line, ''))]
            elif kind == 'table' and not (includes and _INCLUDE_KEY in key):
                pairs = [('type', kind), ('comment', '')]
            else:
                pairs = [('type', kind), ('comment', ''), ('annotation', '')]
            if protection:
                pairs.append(('protection', protection))
            if kind == 'table' or kind == 'sequence':
                children = _new(Object)
                pairs.append(('children', children))
            node = _new(Object)
            node += pairs
            # into the open container
            if is_seq:
                data.append(value)
            else:
                data.append((key, value))
            meta.append((key, node))
            if kind == 'table' or kind == 'sequence':
                stack.append((data, meta, is_seq, open_at))
                data, meta, open_at = value, children, start
                if kind == 'table':
                    is_seq = expect_value = False
                    continue
                is_seq = True
                if not text.startswith(']', pos):
                    continue
                data, meta, is_seq, open_at = stack.pop()
                pos = skip(text, pos + 1).end()
        # A value ended: in a sequence a ',' or ']' follows; in a table the next key.
        while True:
            if not is_seq:
                expect_value = False
                break
            if text.startswith(',', pos):
                pos = skip(text, pos + 1).end()
                expect_value = True
                break
            if text.startswith(']', pos):
                data, meta, is_seq, open_at = stack.pop()
                pos = skip(text, pos + 1).end()
                continue
            if pos >= n:
                raise src.error('unterminated sequence opened here', open_at)
            raise src.error("expected ',' or ']' in sequence", pos)


def _redefine(data, meta):
    """A table that named a key twice: the first place, the last value (the C++ ordered table)."""
    first, last = {}, {}
    for (key, value), pair in zip(data, meta):
        first.setdefault(key, len(first))
        last[key] = (key, value), pair
    del data[:], meta[:]
    for key in first:
        data.append(last[key][0])
        meta.append(last[key][1])


def _key(src, pos):
    """Read `name [@protect_x] :` the slow way: (name, protection, position after), or the error."""
    text = src.text
    m = _KEY.match(text, pos)
    if m is None:
        if text.startswith('@table::', pos):
            raise src.error('@table:: splice is not supported in snippet mode (the C++ library aborts)', pos)
        if text.startswith(('}', ']', ',', ':'), pos) or pos >= len(text):
            raise src.error('expected a name', pos)
        raise src.error('invalid name', pos)
    key = m.group()
    pos = _SKIP.match(text, m.end()).end()
    p = _PROTECTION.match(text, pos)
    protection = None
    if p:
        protection = p.group()
        pos = _SKIP.match(text, p.end()).end()
    if not text.startswith(':', pos):
        raise src.error("expected ':' after name %r" % key, pos)
    return key, protection, _SKIP.match(text, pos + 1).end()


def _atom(src, pos):
    """One scalar the slow way: (type, raw text, end); it must end at space, ',', ']', '}' or EOF."""
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
        return m.lastgroup, m.group(), m.end()
    if _END.match(text, end) is None:
        raise src.error('unexpected text after value', end)
    return kind, text[pos:end], end
