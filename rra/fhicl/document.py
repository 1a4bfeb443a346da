"""FHiCL text -> the fhicl_to_json document artdaq_database stores."""
import re
import time

from . import comments as _comments
from .cppjson import Object, gc_paused
from .parser import parse

_INCLUDE = re.compile(r'#include[ \t\n\v\f\r][^\'"]*')
_INCLUDE_KEY = 'fhicl_pound_include_'


def timestamp(now=None):
    """Local time the way the C++ side writes it: 2024-03-11T09:57:22.123-0500."""
    now = time.time() if now is None else now
    return time.strftime('%Y-%m-%dT%H:%M:%S', time.localtime(now)) + \
        '.%03d' % (int(now * 1000) % 1000) + time.strftime('%z', time.localtime(now))


def _hide_includes(text):
    """`#include "f"` becomes the pseudo-key `fhicl_pound_include_<n>:"f"`, as the C++ regex does."""
    count = iter(range(1 << 62))
    return _INCLUDE.sub(lambda m: '%s%d:' % (_INCLUDE_KEY, next(count)), text)


def to_document(text, name='notprovided', now=None):
    """The fhicl_to_json result for FHiCL `text` (a cppjson.Object); FhiclError if invalid."""
    with gc_paused():
        return _document(text, name, now)


def _document(text, name, now):
    entries = parse(_hide_includes(text), name)
    found = _comments.scan(text)
    prolog, prolog_meta = Object(), Object()
    main, main_meta = Object(), Object()
    for key, value, protection, in_prolog in entries:
        data, meta = (prolog, prolog_meta) if in_prolog else (main, main_meta)
        _convert(key, value, protection, data, meta, found)
    document = Object([
        ('data', Object([('prolog', prolog), ('main', main)])),
        ('metadata', Object([
            ('prolog', Object([('type', 'table'), ('comment', '#prolog'), ('children', prolog_meta)])),
            ('main', Object([('type', 'table'), ('comment', '#main'), ('children', main_meta)]))]))])
    return Object([
        ('document', document),
        ('comments', [Object([('linenum', line), ('value', value)]) for line, value in _comments.as_json(found)]),
        ('origin', Object([('format', 'fhicl'), ('name', name), ('source', 'fhicl_to_json'),
                           ('timestamp', timestamp(now))])),
        ('version', 'notprovided'),
        ('entities', []),
        ('configurations', []),
    ])


def _convert(key, value, protection, data, meta, found):
    """Append one entry's data and metadata; iterative so depth costs no stack."""
    stack = [(key, value, protection, data, meta)]
    extend = list.extend
    while stack:
        key, (kind, raw, line, payload), protection, data, meta = stack.pop()
        node = Object()
        if _INCLUDE_KEY in key:
            pairs = [('type', kind), ('comment', ''), ('annotation', '')]
        else:
            comment = found.get(line - 1, '')
            if comment and (comment[0] == '/' or '#include ' in comment):
                comment = ''
            if kind != 'table':
                pairs = [('type', kind), ('comment', comment), ('annotation', found.get(line, ''))]
            else:
                pairs = [('type', kind), ('comment', comment)]
        if protection:
            pairs.append(('protection', protection))
        extend(node, pairs)
        if kind == 'table':
            value, children = Object(), Object()
            list.append(node, ('children', children))
            stack.extend((k, v, p, value, children) for k, (v, p, _) in reversed(payload.items()))
        elif kind == 'sequence':
            value, children = [], Object()
            list.append(node, ('children', children))
            stack.extend((str(i), v, None, value, children) for i, v in reversed(list(enumerate(payload))))
        elif kind.startswith('string_'):
            value = raw[1:-1] if kind != 'string_unquoted' else raw
        else:
            value = raw
        data.append((key, value) if isinstance(data, Object) else value)
        meta.append((key, node))


def check(text, name=''):
    """Raise FhiclError if `text` is not FHiCL that artdaq_database could store."""
    parse(_hide_includes(text), name)
