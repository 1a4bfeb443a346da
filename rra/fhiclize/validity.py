"""Is a converter's output FHiCL? Only ever a warning: the legacy bytes are archived either way.

Uses rra.fhicl.check when it exists; until then a small parser for the subset the converters
write (name: value, "strings", 'strings', numbers, bare names, [sequences], {tables}, # and //
comments). It is strict: what it cannot read, it reports.
"""
import re

try:
    from rra.fhicl import FhiclError, check
except ImportError:
    check = None

NAME = re.compile(r'[A-Za-z_][A-Za-z0-9_]*')
NUMBER = re.compile(r'[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?')
TOKEN = re.compile(r'''
    (?P<space>\s+)
  | (?P<comment>(\#|//)[^\n]*)
  | (?P<string>"(\\.|[^"\\\n])*"|'[^'\n]*')
  | (?P<punct>[:,\[\]{}])
  | (?P<atom>[^\s:,\[\]{}"'\#]+)
  | (?P<bad>.)''', re.VERBOSE | re.DOTALL)


class Invalid(Exception):
    """Where (line) and why a text is not FHiCL."""


def _tokens(text):
    """(line, kind, text) of every significant token."""
    line = last = 1
    for match in TOKEN.finditer(text):
        kind, token = match.lastgroup, match.group()
        if kind == 'bad':
            raise Invalid(line, 'unterminated string' if token in '"\'' else 'unexpected character %r' % token)
        if kind == 'comment' and re.match(r'#include\b', token):
            raise Invalid(line, '"#include" is an include directive in FHiCL, not a comment')
        if kind not in ('space', 'comment'):
            yield line, kind, token
            last = line
        line += token.count('\n')
    yield last, 'end', ''  # an error at the end is reported on the last line with a token


def basic_problem(text):
    """'line N: why' for the first thing the built-in parser cannot read, else None."""
    try:
        _table(list(_tokens(text)), 0, '')
    except Invalid as e:
        return 'line %d: %s' % e.args
    return None


def _table(tokens, pos, close):
    """Parse `name: value` members up to `close` ('' for the end); return the position of the close."""
    while True:
        line, kind, token = tokens[pos]
        if kind == 'end' or token == close:
            if token != close:
                raise Invalid(line, "missing '%s'" % close)
            return pos
        if kind != 'atom':
            raise Invalid(line, 'expected a name, found %s' % (token or 'end of file'))
        if not NAME.fullmatch(token):
            raise Invalid(line, "'%s' is not a FHiCL name (letters, digits, '_'; not starting with a digit)" % token)
        if tokens[pos + 1][2] != ':':
            raise Invalid(tokens[pos + 1][0], "expected ':' after '%s' (an unescaped quote in a value?)" % token)
        pos = _value(tokens, pos + 2)


def _value(tokens, pos):
    """Parse one value; return the position after it."""
    line, kind, token = tokens[pos]
    if kind == 'string':
        return pos + 1
    if kind == 'atom':
        if NAME.fullmatch(token) or NUMBER.fullmatch(token):
            return pos + 1
        raise Invalid(line, "unquoted value '%s' is neither a number nor a name" % token)
    if token == '{':
        return _table(tokens, pos + 1, '}') + 1
    if token == '[':
        pos += 1
        if tokens[pos][2] == ']':
            return pos + 1
        while True:
            pos = _value(tokens, pos)
            line, kind, token = tokens[pos]
            if token == ']':
                return pos + 1
            if token != ',':
                raise Invalid(line, "expected ',' or ']' in a sequence, found %s" % (token or 'end of file'))
            pos += 1
    raise Invalid(line, 'expected a value, found %s' % (token or 'end of file'))


def problem(text, name):
    """Why text (the file `name`) is not FHiCL, or None; rra.fhicl decides once it exists."""
    if check is None:
        return basic_problem(text)
    try:
        check(text, name)
    except FhiclError as e:
        return str(e)
    return None
