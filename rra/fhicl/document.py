"""FHiCL text -> the fhicl_to_json document artdaq_database stores."""
import re
import time

from . import comments as _comments
from .cppjson import Object, gc_paused
from .parser import parse

_INCLUDE = re.compile(r'#include[ \t\n\v\f\r][^\'"]*')
_INCLUDE_KEY = 'fhicl_pound_include_'
_last = [(None, '', '')]  # the last second formatted: (second, its date and time, its zone)


def timestamp(now=None):
    """Local time the way the C++ side writes it: 2024-03-11T09:57:22.123-0500."""
    now = time.time() if now is None else now
    second, text, zone = _last[0]
    if now // 1 != second:
        local = time.localtime(now)
        second, text, zone = _last[0] = (now // 1, time.strftime('%Y-%m-%dT%H:%M:%S', local),
                                         time.strftime('%z', local))
    return '%s.%03d%s' % (text, int(now * 1000) % 1000, zone)


def _hide_includes(text):
    """`#include "f"` becomes the pseudo-key `fhicl_pound_include_<n>:"f"`, as the C++ regex does."""
    if '#include' not in text:
        return text
    count = iter(range(1 << 62))
    return _INCLUDE.sub(lambda m: '%s%d:' % (_INCLUDE_KEY, next(count)), text)


def to_document(text, name='notprovided', now=None):
    """The fhicl_to_json result for FHiCL `text` (a cppjson.Object); FhiclError if invalid."""
    with gc_paused():
        return _document(text, name, now)


def _document(text, name, now):
    found = _comments.scan(text)
    prolog, prolog_meta, main, main_meta = parse(_hide_includes(text), name, found)
    document = _object(
        ('data', _object(('prolog', prolog), ('main', main))),
        ('metadata', _object(
            ('prolog', _object(('type', 'table'), ('comment', '#prolog'), ('children', prolog_meta))),
            ('main', _object(('type', 'table'), ('comment', '#main'), ('children', main_meta))))))
    return _object(
        ('document', document),
        ('comments', [_object(('linenum', line), ('value', value))
                      for line, value in _comments.as_json(found)]),
        ('origin', _object(('format', 'fhicl'), ('name', name), ('source', 'fhicl_to_json'),
                           ('timestamp', timestamp(now)))),
        ('version', 'notprovided'),
        ('entities', []),
        ('configurations', []),
    )


def _object(*pairs):
    obj = Object.__new__(Object)
    obj += pairs
    return obj


def check(text, name=''):
    """Raise FhiclError if `text` is not FHiCL that artdaq_database could store."""
    parse(_hide_includes(text), name)
