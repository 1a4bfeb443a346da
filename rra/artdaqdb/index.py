"""index.json of a collection: read what the C++ wrote, add documents, write it back the same way.

The file is rewritten whole on every store (the C++ readers need it complete), so its cost grows
with the archive. To keep that cost near the I/O itself, a parsed index keeps its serialized
pieces: a map entry is serialized again only when its list changed, and a long list only in the
bucket (first two characters) where an item was inserted.
"""

import bisect
import itertools
import json
import operator
import os

from ..fhicl import cppjson
from .errors import ArtdaqDBError

NAME = "index.json"
KEYS = (
    "ouid",
    "version",
    "configurations.name",
    "entities.name",
    "aliases.active.name",
    "runs.name",
    "configurations.assigned",
)
# The C++ _create() template, byte for byte.
EMPTY = (
    '{"ouid":[], "version":{},"configurations.name":{}, "entities.name":{},"aliases.active.name":{},'
    ' "runs.name":{},"configurations.assigned":{} }'
)
LONG = 256  # lists at least this long are serialized in buckets

_CACHE = {}  # path -> [stat stamp, Index, journal offset]: parsed again only when the journal cannot say what changed
JOURNAL_LIMIT = 32 << 20  # the journal restarts beyond this size (readers then parse once)


class Index:
    """The seven keys as {name: sorted list} maps ('ouid' a sorted list), in their file order."""

    def __init__(self, data=None):
        self.data = data if data is not None else {}
        for key in KEYS:
            self.data.setdefault(key, [] if key == "ouid" else {})
        self._owners = None
        self._entries = {}  # key -> [serialized '"name" : [...]' per name in order, {name: position}, names to redo]
        self._buckets = {}  # (key, name) of a long list -> {two-character prefix: serialized items or None}

    @classmethod
    def parse(cls, raw, path=NAME):
        """Index from bytes; lists are made sorted and unique, as the C++ keeps them."""
        text = raw.decode("utf-8", "surrogateescape") if isinstance(raw, bytes) else raw
        try:
            data = json.loads(text, strict=False)
        except ValueError:
            try:
                data = _plain(cppjson.loads(text))
            except cppjson.JSONError as e:
                raise ArtdaqDBError(
                    "unreadable index (%s); `rra artdaqdb check --repair` rebuilds it" % e, file=path
                ) from None
        if not isinstance(data, dict):
            raise ArtdaqDBError("index is not a JSON object", file=path)
        ouid = data.get("ouid")
        data["ouid"] = _sorted(ouid if isinstance(ouid, list) else [])
        same = dict(zip(data["ouid"], data["ouid"])).get  # one str per oid, not one per mention (of five)
        for key, value in data.items():
            if isinstance(value, dict):
                data[key] = {k: _sorted(v if isinstance(v, list) else [], same) for k, v in value.items()}
        return cls(data)

    def add(self, f):
        """Index one document, given as record.fields(): the C++ addDocument, without its per-call sort."""
        oid = f["oid"]
        if _insert(self.data["ouid"], oid):
            self._changed(("ouid", ""), oid)
        self._touch("version", f["version"], oid)
        for name, assigned in f["configurations"]:
            self._touch("configurations.name", name, oid)
            self._touch("configurations.assigned", name, assigned)
        for key, names in (
            ("entities.name", f["entities"]),
            ("aliases.active.name", f["aliases"]),
            ("runs.name", f["runs"]),
        ):
            for name in names:
                self._touch(key, name, oid)
        if self._owners is not None:
            self._owners[oid] = (f["version"], tuple(f["entities"]), tuple(c for c, _ in f["configurations"]))

    def remove(self, oids, assigned=()):
        """Take documents out again (a store that did not commit); assigned: its (configuration, stamp) pairs.

        Names left without documents are dropped, so the index is what it was before the store.
        Returns True if anything changed. Meant for a freshly loaded index: caches are reset.
        """
        oids, stamps = set(oids), {}
        if not oids and not assigned:
            return False
        for configuration, stamp in assigned:
            stamps.setdefault(configuration, set()).add(stamp)
        keep = [o for o in self.data["ouid"] if o not in oids]
        changed = len(keep) != len(self.data["ouid"])
        self.data["ouid"] = keep
        for key in KEYS[1:]:
            for name, items in list(self.data[key].items()):
                gone = stamps.get(name, ()) if key == "configurations.assigned" else oids
                kept = [x for x in items if x not in gone]
                if len(kept) != len(items):
                    changed = True
                    if kept:
                        self.data[key][name] = kept
                    else:
                        del self.data[key][name]
        self._owners, self._entries, self._buckets = None, {}, {}
        return changed

    def _touch(self, key, name, value):
        items = self.data[key].get(name)
        if items is None:
            items = self.data[key][name] = []
            if key in self._entries:
                parts, where, redo = self._entries[key]
                where[name] = len(parts)
                parts.append(None)
        if _insert(items, value):
            self._changed((key, name), value)
            if key in self._entries:
                self._entries[key][2].add(name)

    def _changed(self, ident, value):
        buckets = self._buckets.get(ident)
        if buckets is not None:
            buckets[value[:2]] = None

    def owners(self):
        """oid -> (version, entities, configurations), built once per parse and kept up to date by add().

        Tuples shared between documents (most entity and configuration tuples repeat): at
        20,000 runs the map is ~30 MB instead of ~75 MB of per-document lists.
        """
        if self._owners is None:
            canon, names = {}, ({}, {})
            for slot, key in ((0, "entities.name"), (1, "configurations.name")):
                for name, oids in self.data[key].items():
                    for oid in oids:
                        names[slot][oid] = names[slot].get(oid, ()) + (name,)
            entities, configurations = ({oid: canon.setdefault(t, t) for oid, t in m.items()} for m in names)
            owners = {}
            for version, oids in self.data["version"].items():
                for oid in oids:
                    owners[oid] = (version, entities.pop(oid, ()), configurations.pop(oid, ()))
            for oid in set(entities) | set(configurations):
                owners[oid] = (None, entities.get(oid, ()), configurations.get(oid, ()))
            self._owners = owners
        return self._owners

    def run_docs(self, run):
        """[(oid, version, entities, configurations)] of the documents of a run."""
        oids = self.data["runs.name"].get(str(run))
        if not oids:
            return []
        owners = self.owners()
        return [(oid,) + owners.get(oid, (None, (), ())) for oid in oids]

    def dumps(self):
        """The bytes the C++ JsonWriter makes of the index (its layout, its escapes)."""
        out = [b"{\n"]
        for i, (key, value) in enumerate(self.data.items()):
            out.append(b'%s"%s" : ' % (b",\n" if i else b"", _bytes(key)))
            if isinstance(value, list):
                out.append(self._list(("ouid", ""), value) if key == "ouid" else _list(value))
            elif isinstance(value, dict) and value:
                out += [b"{\n", b",\n".join(self._map(key)), b"\n}"]
            elif isinstance(value, dict):
                out.append(b"{\n\n}")
            else:
                out.append(cppjson.encode_bytes(cppjson.dumps(value)))
        out.append(b"\n}")
        return b"".join(out)

    def _map(self, key):
        """Serialized entries of one map, in order; only new and changed ones are made again."""
        value = self.data[key]
        entry = lambda name: b'"%s" : %s' % (_bytes(name), self._list((key, name), value[name]))
        if key not in self._entries:
            self._entries[key] = [[entry(n) for n in value], {n: i for i, n in enumerate(value)}, set()]
        parts, where, redo = self._entries[key]
        for name in redo:
            parts[where[name]] = entry(name)
        redo.clear()
        return parts

    def _list(self, ident, items):
        """A list's bytes; a long one from its per-prefix buckets, rebuilding only the changed ones."""
        if len(items) < LONG:
            return _list(items)
        buckets = self._buckets.get(ident)
        if buckets is None:
            buckets = self._buckets[ident] = {p: _items(list(g)) for p, g in itertools.groupby(items, lambda s: s[:2])}
        for prefix, chunk in buckets.items():
            if chunk is None:
                i = j = bisect.bisect_left(items, prefix)
                while j < len(items) and items[j][:2] == prefix:
                    j += 1
                buckets[prefix] = _items(items[i:j])
        return b"[\n%s\n]" % b",\n".join(buckets[p] for p in sorted(buckets))


def _plain(value):
    """cppjson values as plain dicts; a duplicated key's lists are merged."""
    if isinstance(value, cppjson.Object):
        out = {}
        for k, v in value:
            v = _plain(v)
            out[k] = out[k] + v if isinstance(out.get(k), list) and isinstance(v, list) else v
        return out
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _sorted(items, same=None):
    """Strings, sorted and unique (map() keeps this at C speed: lists hold 100,000s of oids)."""
    items = list(map(str, items))
    if same:
        items = list(map(same, items, items))
    if all(map(operator.lt, items, itertools.islice(items, 1, None))):
        return items
    return sorted(set(items))


def _insert(items, value):
    """Insert into a sorted list unless present; True if the list changed."""
    i = bisect.bisect_left(items, value)
    if i == len(items) or items[i] != value:
        items.insert(i, value)
        return True
    return False


def _bytes(text):
    return cppjson.encode_bytes(cppjson.escape(text))


def _items(items):
    """'"a",\n"b"' for strings, escaped the C++ way when needed (found with fast counts, not a regex)."""
    text = '",\n"'.join(items)
    n = len(items) - 1
    if text.count('"') != 2 * n or text.count("\n") != n or any(c in text for c in "\\\b\f\r\t"):
        text = '",\n"'.join(cppjson.escape(x) for x in items)
    return cppjson.encode_bytes('"%s"' % text)


def _list(items):
    return b"[\n%s\n]" % _items(items) if items else b"[\n\n]"


def _stamp(st):
    return [st.st_ino, st.st_mtime_ns, st.st_size]


# The journal. Every rra process keeps its parsed indexes (_CACHE: path -> [stamp, Index,
# journal offset]); a stamp is (inode, mtime_ns, size) of the file it was parsed from, and
# every save replaces the file, so a changed stamp means another writer was there. Parsing
# a big index again costs far more than the store itself, so each save (made under the
# collection's lock) also appends {prev stamp, new stamp, documents added} to the
# collection's journal. A process whose cached stamp is behind replays the entries from its
# offset, as long as each entry's prev is the stamp it holds: a broken chain (a removal, a
# writer without journal, the journal restarted at JOURNAL_LIMIT, an unreadable line) means
# "parse the file", never a guess. The journal is an optimisation only; the C++ tools ignore it.
def load(path, journal=None):
    """The index at path (a missing file reads as empty), cached until the file is replaced.

    When another rra process replaced it, its additions are replayed from the journal
    (a chain of index stamps) instead of parsing the whole file again.
    """
    path = str(path)
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        _CACHE.pop(path, None)
        return Index()
    with f:
        stamp = _stamp(os.fstat(f.fileno()))
        hit = _CACHE.get(path)
        if hit and (hit[0] == stamp or (journal and _replay(hit, stamp, journal))):
            return hit[1]
        idx = Index.parse(f.read(), path)
    _CACHE[path] = [stamp, idx, _size(journal)]
    return idx


def _size(path):
    try:
        return os.stat(path).st_size if path else 0
    except OSError:
        return 0


def _replay(hit, stamp, journal):
    """Bring a cached index from its stamp to `stamp` with the journal; False if the chain breaks."""
    try:
        with open(journal, "rb") as f:
            f.seek(hit[2])
            data = f.read()
        entries, at, offset = [], hit[0], hit[2]
        for line in data.split(b"\n")[:-1]:
            entry = json.loads(line)
            if entry["prev"] != at:
                return False
            entries.append(entry)
            at, offset = entry["stamp"], offset + len(line) + 1
            if at == stamp:
                break
        else:
            return False
    except (OSError, ValueError, KeyError, TypeError):
        return False
    for entry in entries:
        for f in entry["docs"]:
            hit[1].add(f)
    hit[0], hit[2] = stamp, offset
    return True


def save(path, idx, write, journal=None, added=(), removed=False):
    """Write idx with write(path, bytes) (atomic, durable), remember it, and journal what was added.

    The journal only saves other processes a parse: if it cannot be written they parse the
    file again. removed: documents were taken out, which the journal cannot replay, so
    nothing is journaled and other processes' chains break there.
    """
    path = str(path)
    hit = _CACHE.get(path)
    prev = hit[0] if hit and hit[1] is idx else None
    try:
        write(path, idx.dumps())
        stamp = _stamp(os.stat(path))
        offset = _size(journal)
        if journal and not removed:
            line = json.dumps({"prev": prev, "stamp": stamp, "docs": list(added)}).encode() + b"\n"
            try:
                with open(journal, "ab" if offset < JOURNAL_LIMIT else "wb") as f:
                    f.write(line)
                    offset = f.tell()
            except OSError:
                offset = 0
        _CACHE[path] = [stamp, idx, offset]
    except BaseException:
        _CACHE.pop(path, None)
        raise


def forget(path):
    """Drop a cached index whose in-memory copy may no longer match the file."""
    _CACHE.pop(str(path), None)
