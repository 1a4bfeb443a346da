"""Run-level logic every backend shares: which file goes where, what changed, which version is next."""

import contextlib
import os
import tempfile
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Dict, Optional, Tuple

from .errors import ArtdaqDBError
from .record import HASHES, SCHEMA, md5
from .uri import redact

BUNDLED_SCHEMA = Path(__file__).with_name("schema.fcl")
RULE_LISTS = ("run_history", "system_layout")
DEFAULT_COLLECTION, SCHEMA_COLLECTION = "RunHistory", "SystemLayout"


@dataclass(frozen=True)
class Entry:
    """Where the newest stored version of one entity lives."""

    collection: str
    version: str
    oid: str


@dataclass
class RunState:
    """A run as archived: newest version, each entity's newest document, source md5s known."""

    run: int
    configuration: str
    version: str
    stored_at: Optional[str]
    entities: Dict[str, Entry] = field(default_factory=dict)
    md5: Dict[str, Optional[str]] = field(default_factory=dict)

    @property
    def number(self):
        return version_number(self.version, self.configuration)


@dataclass(frozen=True)
class StoreResult:
    """What store() did: version None means the FHiCL set was already archived as it is."""

    uri: str
    run: int
    configuration: str
    version: Optional[str]
    md5: Dict[str, str]
    stored_at: Optional[str]
    stored: Tuple[str, ...] = ()
    kept: Tuple[str, ...] = ()  # archived entities the set no longer has: they stay, as in the C++ archive

    @property
    def changed(self):
        return self.version is not None


def version_number(version, configuration):
    """0 for the first version, n for `<configuration>v<n>`, -1 for a version of something else."""
    if version == configuration:
        return 0
    rest = version[len(configuration) :] if version.startswith(configuration) else ""
    return int(rest[1:]) if rest[:1] == "v" and rest[1:].isdigit() else -1


def next_number(n):
    """The update number after n: n + 1, except after 9, 99, ... (90, 990, ...).

    The C++ readers take the lexicographically greatest version (`Cv9` over `Cv10`), so
    every new version must sort after the last one as text as well as by number.
    """
    return int("%d0" % n) if n and str(n + 1) < str(n) else n + 1


def entity_of(name):
    """Entity name of a file: its stem."""
    return name[:-4] if name.endswith(".fcl") else os.path.splitext(name)[0]


def read_files(files):
    """entity -> bytes from {file name: bytes|str}, a directory of *.fcl, or an iterable of paths."""
    if isinstance(files, (str, os.PathLike)):
        files = sorted(Path(files).glob("*.fcl"))
    items = files.items() if isinstance(files, Mapping) else ((Path(p).name, Path(p)) for p in files)
    out = {}
    for name, data in items:
        entity = entity_of(os.path.basename(str(name)))
        if isinstance(data, Path):
            try:
                data = data.read_bytes()
            except OSError as e:
                raise ArtdaqDBError("cannot read: %s" % e.strerror, file=str(data)) from None
        elif isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        if entity == HASHES:
            raise ArtdaqDBError("hashes is the entity the archive computes; rename the file", file=name)
        if not entity or entity in out:
            raise ArtdaqDBError("two files for entity %r" % entity, file=name)
        out[entity] = data
    return out


_TOKEN = re.compile(r"""\s+|,|(?:\#|//)[^\n]*|'([^']*)'|"((?:[^"\\]|\\.)*)"|([\[\]{}:])|([^\s,\[\]{}:'"\#]+)""")


def _tokens(text):
    """schema.fcl's tokens, read leniently. Not rra.fhicl's parser, on purpose: this reader takes commas
    between a table's entries and the first of a rule's repeated keys, where that parser rejects the
    first and keeps the last value; moving to it would change which schema files load and how."""
    for m in _TOKEN.finditer(text):
        single, double, punct, word = m.groups()
        if single is not None:
            yield "s", single
        elif double is not None:
            yield "s", re.sub(r"\\(.)", r"\1", double)
        elif punct or word:
            yield ("p", punct) if punct else ("w", word)


def _value(tokens, i):
    """One FHiCL value from tokens[i]: tables as [(key, value)], sequences as lists, atoms as text."""
    kind, tok = tokens[i]
    if (kind, tok) == ("p", "{"):
        pairs, i = [], i + 1
        while tokens[i] != ("p", "}"):
            if tokens[i + 1] != ("p", ":"):
                raise ValueError('expected ":" after %r' % tokens[i][1])
            value, j = _value(tokens, i + 2)
            pairs.append((tokens[i][1], value))
            i = j
        return pairs, i + 1
    if (kind, tok) == ("p", "["):
        items, i = [], i + 1
        while tokens[i] != ("p", "]"):
            value, i = _value(tokens, i)
            items.append(value)
        return items, i + 1
    if kind == "p":
        raise ValueError("unexpected %r" % tok)
    return tok, i + 1


def schema_rules(text, path="schema.fcl"):
    """[(collection, pattern)] of the run_history then system_layout lists of schema.fcl, in order."""
    tokens = list(_tokens(text.decode("utf-8", "replace") if isinstance(text, bytes) else text))
    lists, i = {}, 0
    try:
        while i < len(tokens):
            if tokens[i][0] != "p" and i + 1 < len(tokens) and tokens[i + 1] == ("p", ":"):
                key = tokens[i][1]
                lists[key], i = _value(tokens, i + 2)
            else:
                i += 1
        rules = []
        for name in RULE_LISTS:
            for table in lists.get(name) or ():
                rule = dict(reversed(table))
                rules.append((rule["collection"], re.compile(rule["pattern"])))
        return rules
    except (IndexError, ValueError, KeyError, TypeError, re.error) as e:
        raise ArtdaqDBError(
            "cannot read its run_history/system_layout rules (%s: %s)" % (type(e).__name__, e), file=str(path)
        ) from None


def collection_of(entity, rules):
    """First matching rule's collection; SystemLayout for schema; RunHistory when none matches."""
    if entity == SCHEMA:
        return SCHEMA_COLLECTION
    path = "/%s.fcl" % entity
    return next((coll for coll, pattern in rules if pattern.match(path)), DEFAULT_COLLECTION)


def plan(run, configuration, texts, state, schema_text, same=None):
    """(version or None, {entity: bytes or None for hashes}, {entity: source md5}) for one store.

    First store: every file, schema and hashes. Later: only entities whose source md5 differs
    from the archived one (same(entity, data) decides when the archive has no md5 for it),
    plus schema and a hashes entity covering the whole set. Nothing changed: version None.
    """
    md5s = {e: md5(data) for e, data in sorted(texts.items()) if e != SCHEMA}
    if state is None:
        version, changed = configuration, list(md5s)
    else:
        if state.configuration != configuration:
            raise ArtdaqDBError(
                "run is archived as configuration %s, not %s" % (state.configuration, configuration), run=run
            )
        changed = [
            e
            for e, h in md5s.items()
            if state.md5.get(e) != h
            and not (state.md5.get(e) is None and e in state.entities and same and same(e, texts[e]))
        ]
        if not changed:
            return None, {}, md5s
        version = "%sv%d" % (configuration, next_number(state.number))
    todo = {e: texts[e] for e in changed}
    todo[SCHEMA] = texts.get(SCHEMA, schema_text)
    todo[HASHES] = None
    return version, todo, md5s


class ArtdaqDB:
    """An archive of run records in artdaq_database, whatever serves it (see open_artdaqdb)."""

    backend = None

    def __init__(self, uri, fcl_conf_dir=None):
        self.uri = str(uri)
        self.safe_uri = redact(self.uri)
        self.schema_path = Path(fcl_conf_dir) / "schema.fcl" if fcl_conf_dir else BUNDLED_SCHEMA
        self._schema = None

    def __repr__(self):
        return "<%s %s %s>" % (type(self).__name__, self.backend, self.safe_uri)

    def error(self, message, run=None, file=None):
        return ArtdaqDBError(message, run=run, file=file, uri=self.uri)  # redacted by ArtdaqDBError

    @property
    def schema(self):
        """(schema.fcl bytes, its rules), read once."""
        if self._schema is None:
            try:
                text = self.schema_path.read_bytes()
            except OSError as e:
                raise self.error("cannot read schema.fcl: %s" % e.strerror, file=str(self.schema_path)) from None
            self._schema = text, schema_rules(text, self.schema_path)
        return self._schema

    def collection(self, entity):
        """The collection an entity of a run record is stored in."""
        return collection_of(entity, self.schema[1])

    def runs(self):
        """Archived run numbers, ascending."""
        raise NotImplementedError

    def latest(self, run):
        """RunState of an archived run, None if the run is not archived."""
        raise NotImplementedError

    def stored_at(self, run):
        """Timestamp (as written) of the newest stored version of a run, None if not archived."""
        state = self.latest(run)
        return state.stored_at if state else None

    def exported(self, run):
        """{'<entity>.fcl': text} of every entity's newest version, as the database exports it."""
        with tempfile.TemporaryDirectory(prefix="rra-export-") as tmp:
            return {p.name: p.read_bytes().decode("utf-8", "surrogateescape") for p in self.export(run, tmp)}

    def export(self, run, out_dir):
        """Write every entity's newest version as OUT_DIR/<entity>.fcl; returns the paths written."""
        out = Path(out_dir)
        try:
            out.mkdir(parents=True, exist_ok=True)
            written = []
            for name, text in self.exported(run).items():
                (out / name).write_bytes(text.encode("utf-8", "surrogateescape"))
                written.append(out / name)
        except OSError as e:
            raise self.error("cannot write: %s" % e.strerror, run, e.filename or str(out)) from None
        return written

    def store(self, run, config_name, files):
        """Archive a run's FHiCL set as configuration <run>/<config_name>; StoreResult says what was stored."""
        return self.store_many([(run, config_name, files)])[0]

    def store_many(self, runs, stop=None):
        """store() for several (run, config_name, files) at once: each index is rewritten once for all.

        For bulk imports: the index rewrite grows with the archive, so sharing it between runs keeps
        the per-run cost flat. The runs become visible together, when the call returns.
        stop: a callable asked after each run's documents are made; when it says True, the runs
        made so far are stored and the rest left out (a Ctrl-C need not wait for a whole batch
        of 200). The results then leave the unstored runs out.
        """
        prepared = [(int(run), "%d/%s" % (int(run), config), read_files(files)) for run, config, files in runs]
        numbers = [run for run, _, _ in prepared]
        if len(set(numbers)) != len(numbers):
            raise self.error("a run appears twice in one store_many call")
        with contextlib.ExitStack() as locks:
            for lock in self._run_locks(numbers):
                locks.enter_context(lock)
            results, batch = [], []
            for run, configuration, texts in prepared:
                state = self.latest(run)
                version, todo, md5s = plan(
                    run,
                    configuration,
                    texts,
                    state,
                    self.schema[0],
                    lambda e, data, state=state: self._same(state, e, data),
                )
                if version is not None:
                    batch.append(
                        (run, configuration, version, [(e, self.collection(e), d) for e, d in todo.items()], md5s)
                    )
                kept = tuple(e for e in state.entities if e not in texts and e not in (SCHEMA, HASHES)) if state else ()
                results.append(
                    StoreResult(
                        self.safe_uri,
                        run,
                        configuration,
                        version,
                        md5s,
                        state.stored_at if version is None else None,
                        tuple(todo),
                        kept,
                    )
                )
            try:
                stamps = self._write(batch, stop) if batch else {}
            except OSError as e:
                raise self.error(
                    "cannot write: %s" % (e.strerror or e), numbers[0] if len(numbers) == 1 else None, e.filename
                ) from None
        return [
            r if r.version is None else replace(r, stored_at=stamps[r.run])
            for r in results
            if r.version is None or r.run in stamps
        ]

    def _write(self, batch, stop=None):
        """Store [(run, configuration, version, [(entity, collection, bytes or None for hashes)], md5s)];
        returns {run: timestamp written} (a prefix of batch when stop() said True on the way)."""
        raise NotImplementedError

    def _same(self, state, entity, data):
        """True when data is what the archive holds for entity (used when its md5 is unknown)."""
        return False

    def _run_locks(self, runs):
        return []
