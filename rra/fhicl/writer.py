"""A stored document -> the FHiCL text artdaq_database exports (its FhiclWriter), byte for byte.

Each entry is `<comment>\\n<key>[ <protection>]: <value>`, scalars and sequences
followed by ` <annotation>\\n`; tables `{\\n<entries>\\n}`; sequences `[a, b]`
(elements without comments; a nested sequence carries its annotation); strings re-quoted by their type; includes as
` \\n#include "f" \\n`. The prolog, if any, is wrapped in BEGIN_PROLOG/END_PROLOG.
A top-level entry without metadata is an error; a nested one silently ends its
table or sequence there, as in the C++.
"""

import re

from .cppjson import Object, gc_paused
from .errors import FhiclError

_INCLUDE_KEY = "fhicl_pound_include"
_INCLUDE_FIX = re.compile(r'#include[ \t\n\v\f\r]*:[^"]*')
_STRING_TYPES = {"string", "string_unquoted", "string_singlequoted", "string_doublequoted"}
_TYPES = _STRING_TYPES | {"nil", "bool", "number", "complex", "sequence", "table", "tableid"}
_NEED_QUOTES = re.compile(r"[ .%()/\-\\]")


class _Missing(Exception):
    """A metadata lookup failed (the C++ std::out_of_range)."""


def to_fhicl(document):
    """Exported FHiCL for a fhicl_to_json result, a stored record, or its `document` part."""
    with gc_paused():
        return _export(_as_object(document))


def _export(doc):
    if "document" in doc:
        doc = _as_object(doc["document"])
    try:
        data, metadata = _as_object(doc["data"]), _as_object(doc["metadata"])
        sections = [(_as_object(data[s]), _as_object(_as_object(metadata[s])["children"])) for s in ("prolog", "main")]
    except (KeyError, TypeError) as e:
        raise FhiclError("not an artdaq_database FHiCL document: no data/metadata %s" % e) from None
    out = []
    (prolog, prolog_meta), (main, main_meta) = sections
    if prolog:
        out.append("BEGIN_PROLOG\n")
        _write(prolog, prolog_meta, out)
        out.append("\nEND_PROLOG\n")
    _write(main, main_meta, out)
    return _INCLUDE_FIX.sub("#include ", "".join(out))


def _as_object(value):
    if isinstance(value, Object):
        return value
    if isinstance(value, dict):
        return Object(value)
    raise FhiclError("expected a JSON object, got %s" % type(value).__name__)


def _lookup(obj, key):
    if not isinstance(obj, (Object, dict)):
        raise FhiclError("metadata is not an object near %r" % key)
    if key not in obj:
        raise _Missing(key)
    return obj[key]


def _text(value, what):
    if not isinstance(value, str):
        raise FhiclError("%s must be a string, got %r" % (what, value))
    return value


def _entry(key, value, meta):
    """Everything the C++ json2fcldb looks up for one table entry, checked up front."""
    if key.startswith(_INCLUDE_KEY):
        return ("include", None, None, None, None)
    kind = _text(_lookup(meta, "type"), "type")
    override = kind == "table" and isinstance(value, str)
    if override:
        kind = "string"
    if kind not in _TYPES:
        raise FhiclError('FHiCL atom type "%s" is not implemented' % kind)
    comment = _text(_lookup(meta, "comment"), "comment")
    if "#include " in comment:
        comment = ""
    protection = meta.get("protection") if isinstance(meta, (Object, dict)) else None
    name = key if protection in (None, "@none") else "%s %s" % (key, protection)
    annotation = None if kind == "table" or override else _text(_lookup(meta, "annotation"), "annotation")
    return (kind, name, comment, annotation, "string" if override else None)


def _scalar(kind, value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)) and kind in ("number", "bool"):
        return getattr(value, "source", None) or str(value)
    if not isinstance(value, str):
        raise FhiclError("value of type %s must be a string, got %r" % (kind, value))
    if kind == "string_doublequoted":
        return '"%s"' % value
    if kind == "string_singlequoted":
        return "'%s'" % value
    if kind == "string" and _NEED_QUOTES.search(value):
        return '"%s"' % value
    return value


def _children(meta):
    return _lookup(meta, "children")


def _first_values(obj):
    """key -> value of its first pair: the C++ at() without a scan per lookup."""
    if isinstance(obj, dict):
        return obj
    if not isinstance(obj, Object):
        raise FhiclError("metadata children is not an object")
    index = {}
    for key, value in obj:
        index.setdefault(key, value)
    return index


def _plan_table(data, children, top):
    """The entries of one table as (key, value, meta, entry); stops at the first bad one."""
    plan = []
    children = _first_values(children)
    for key, value in _as_object(data):
        try:
            meta = _lookup(children, key)
            plan.append((key, value, meta, _entry(key, value, meta)))
        except _Missing as e:
            if top:
                raise FhiclError("entry %r has no metadata (%s): the C++ writer fails" % (key, e)) from None
            break
    return plan


def _write(data, children, out):
    """Emit a section; an explicit stack keeps deep documents off the Python stack."""
    stack = [("table", _plan_table(data, children, True))]
    emit = out.append
    while stack:
        task = stack.pop()
        if isinstance(task, str):
            emit(task)
            continue
        what, items = task
        if what == "table":
            for key, value, meta, (kind, name, comment, annotation, _) in reversed(items):
                if kind == "include":
                    stack.append(' \n#include: "%s" \n' % _text(value, "include"))
                    continue
                if annotation is not None:
                    stack.append(" %s\n" % annotation)
                stack.append(("value", (kind, value, meta)))
                stack.append("%s\n%s: " % (comment, name))
        elif what == "value":
            kind, value, meta = items
            if kind == "table":
                if not isinstance(value, (Object, dict)):
                    raise FhiclError("table value is not an object: %r" % (value,))
                try:
                    plan = _plan_table(value, _children(meta), False)
                except _Missing:
                    plan = []
                stack.extend(["\n}", ("table", plan), "{\n"])
            elif kind == "sequence":
                if not isinstance(value, list):
                    raise FhiclError("sequence value is not an array: %r" % (value,))
                parts = []
                try:
                    kids = _first_values(_children(meta))
                    for i, element in enumerate(value):
                        element_meta = _lookup(kids, str(i))
                        element_kind = _text(_lookup(element_meta, "type"), "type")
                        if element_kind == "table" and isinstance(element, str):
                            element_kind = "string"
                        if element_kind not in _TYPES:
                            raise FhiclError('FHiCL atom type "%s" is not implemented' % element_kind)
                        parts.append(("value", (element_kind, element, element_meta)))
                        if element_kind == "sequence":
                            parts.append(" %s\n" % _text(_lookup(element_meta, "annotation"), "annotation"))
                except _Missing:
                    pass
                seq = ["["]
                for i, part in enumerate(parts):
                    if i and not isinstance(part, str):
                        seq.append(", ")
                    seq.append(part)
                seq.append("]")
                stack.extend(reversed(seq))
            else:
                emit(_scalar(kind, value))
    return out
