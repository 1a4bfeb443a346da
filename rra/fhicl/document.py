"""FHiCL text -> the fhicl_to_json document artdaq_database stores: its C++ JSON text (to_json, what the
store writes) or its cppjson tree (to_document, read back from that text)."""

import re
import time

from . import comments as _comments
from .cppjson import escape, loads
from .parser import parse

_INCLUDE = re.compile(r'#include[ \t\n\v\f\r][^\'"]*')
_INCLUDE_KEY = "fhicl_pound_include_"
_last = [(None, "", "")]  # the last second formatted: (second, its date and time, its zone)


def timestamp(now=None):
    """Local time the way the C++ side writes it: 2024-03-11T09:57:22.123-0500."""
    now = time.time() if now is None else now
    second, text, zone = _last[0]
    if now // 1 != second:
        local = time.localtime(now)
        second, text, zone = _last[0] = (
            now // 1,
            time.strftime("%Y-%m-%dT%H:%M:%S", local),
            time.strftime("%z", local),
        )
    return "%s.%03d%s" % (text, int(now * 1000) % 1000, zone)


def _hide_includes(text):
    """`#include "f"` becomes the pseudo-key `fhicl_pound_include_<n>:"f"`, as the C++ regex does."""
    if "#include" not in text:
        return text
    count = iter(range(1 << 62))
    return _INCLUDE.sub(lambda m: "%s%d:" % (_INCLUDE_KEY, next(count)), text)


def to_json(text, name="notprovided", now=None):
    """The fhicl_to_json result for FHiCL `text` as the C++ writes it (`cppjson.dumps(to_document(...))`,
    made straight from the text); FhiclError if invalid."""
    document, comments = sections(text, name)
    return (
        f'{{\n"document" : {document},\n"comments" : {comments},\n"origin" : {{\n"format" : "fhicl",\n'
        f'"name" : "{escape(name)}",\n"source" : "fhicl_to_json",\n"timestamp" : "{timestamp(now)}"\n}},\n'
        '"version" : "notprovided",\n"entities" : [\n\n],\n"configurations" : [\n\n]\n}'
    )


def sections(text, name="notprovided"):
    """The `document` and `comments` parts of to_json(text, name), each as the C++ writes it."""
    found = _comments.scan(text)
    prolog, prolog_meta, main, main_meta = parse(_hide_includes(text), name, found)
    document = (
        f'{{\n"data" : {{\n"prolog" : {{\n{prolog}\n}},\n"main" : {{\n{main}\n}}\n}},\n"metadata" : {{\n'
        f'"prolog" : {{\n"type" : "table",\n"comment" : "#prolog",\n"children" : {{\n{prolog_meta}\n}}\n}},\n'
        f'"main" : {{\n"type" : "table",\n"comment" : "#main",\n"children" : {{\n{main_meta}\n}}\n}}\n}}\n}}'
    )
    comments = ",\n".join(
        [f'{{\n"linenum" : {line},\n"value" : "{escape(value)}"\n}}' for line, value in _comments.as_json(found)]
    )
    return document, f"[\n{comments}\n]"


def to_document(text, name="notprovided", now=None):
    """The fhicl_to_json result for FHiCL `text` (a cppjson.Object); FhiclError if invalid."""
    return loads(to_json(text, name, now))


def check(text, name=""):
    """Raise FhiclError if `text` is not FHiCL that artdaq_database could store."""
    parse(_hide_includes(text), name)
