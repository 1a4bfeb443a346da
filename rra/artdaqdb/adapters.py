"""The C++ stack as optional backends: the conftoolp SWIG module, or the bulkloader/bulkdownloader tools.

Only sites with the C++ bundle have them (and only they can serve mongodb://); the native backend
is the default. Both follow the run-level rules of runs.py, so the archive they leave is the same.
"""

import contextlib
import io
import json
import logging
import os
import re
import shlex
import shutil
import signal
import subprocess
import tarfile
import tempfile
from pathlib import Path

from ..errors import RraError
from .errors import ArtdaqDBError
from .record import HASHES, SCHEMA, hashes_lines, same_document, timestamp
from .runs import DEFAULT_COLLECTION, SCHEMA_COLLECTION, ArtdaqDB, Entry, RunState, version_number
from .uri import scheme

TOOL_TIMEOUT = 600
log = logging.getLogger(__name__)
_NOISE = re.compile(
    r"(-+ .* (BEGIN|END)|\^|\d+ .*\[0x[0-9a-f]+\]|Process exited.*"
    r"|Error: Dynamic exception type.*)$"
)  # banners and stack frames of a C++ failure


def cpp_message(text):
    """What a C++ failure says went wrong, in one line: its what() text without stack trace or banners."""
    text = str(text or "")
    for marker in ("std::exception::what:", "what():"):
        if marker in text:
            text = text.rsplit(marker, 1)[1]
            break
    lines = [line.strip() for line in text.splitlines()]
    lines = [line for line in lines if line and not _NOISE.match(line)]
    return "; ".join(lines[:3]) or "no message"


def _failed_file(output):
    """The file bulkloader names in 'Failed loading file:<path>', as its base name."""
    m = re.search(r"Failed loading file:\s*(\S+)", output or "")
    return os.path.basename(m.group(1)) if m else None


@contextlib.contextmanager
def _database_uri(uri):
    """The C++ library reads its database from ARTDAQ_DATABASE_URI."""
    old = os.environ.get("ARTDAQ_DATABASE_URI")
    os.environ["ARTDAQ_DATABASE_URI"] = uri
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("ARTDAQ_DATABASE_URI", None)
        else:
            os.environ["ARTDAQ_DATABASE_URI"] = old


class ConftoolpDB(ArtdaqDB):
    """artdaq_database through its SWIG module (filesystemdb:// or mongodb://)."""

    backend = "conftoolp"

    def __init__(self, uri, fcl_conf_dir=None):
        super().__init__(uri, fcl_conf_dir)
        try:
            import conftoolp
        except ImportError as e:
            raise self.error(
                "backend conftoolp needs the artdaq_database SWIG module (%s); put its "
                "directory on PYTHONPATH and LD_LIBRARY_PATH, or use backend native for "
                "filesystemdb://" % e
            ) from None
        self.api = conftoolp
        conftoolp.set_default_locale()

    def call(self, name, query, *args, run=None):
        """One conftoolp call; its (ok, text) failure becomes an ArtdaqDBError."""
        with _database_uri(self.uri):
            try:
                ok, out = getattr(self.api, name)(json.dumps(query), *args)
            except Exception as e:
                raise self.error("conftoolp.%s raised %s: %s" % (name, type(e).__name__, e), run) from None
        if ok is not True:
            raise self.error("conftoolp.%s failed: %s" % (name, cpp_message(out)), run)
        return out

    def _configurations(self, pattern):
        query = {"operation": "findconfigs", "dataformat": "gui", "filter": {"configurations.name": pattern}}
        return [c["name"] for c in json.loads(self.call("find_configurations", query))["search"]]

    def runs(self):
        return sorted({int(m.group(1)) for m in (re.match(r"\s*(\d+)/", c) for c in self._configurations("*")) if m})

    def latest(self, run):
        configs = [c for c in self._configurations("%d/*" % run) if c.startswith("%d/" % run)]
        if not configs:
            return None
        configuration = configs[0]
        query = {"operation": "buildfilter", "dataformat": "gui", "filter": {"configurations.name": configuration}}
        entities = {}
        for item in json.loads(self.call("configuration_composition", query, run=run)).get("search", []):
            q = item.get("query") or {}
            f = q.get("filter", {})
            entity = f.get("entities.name", item.get("name"))
            entities[entity] = Entry(q.get("collection", ""), f.get("version", ""), "")
        versions = self.call(
            "find_versions",
            {
                "operation": "findversions",
                "dataformat": "csv",
                "collection": SCHEMA_COLLECTION,
                "filter": {"entities.name": SCHEMA},
            },
            run=run,
        )
        ours = [v for v in versions.split(",") if version_number(v, configuration) >= 0] or [configuration]
        version = max(ours)  # the greatest as text, as the C++ readers take it
        state = RunState(run, configuration, version, None, dict(sorted(entities.items())))
        known, since = {}, 0
        if HASHES in entities:
            text = self._read(configuration, HASHES, entities[HASHES].collection, "origin", run)
            known = dict(re.findall(r"^\s*(\S+?)\s*:\s*(\S+)", text, re.M))
            since = version_number(entities[HASHES].version or configuration, configuration)
        state.md5 = {
            e: known.get(e) if version_number(x.version or configuration, configuration) <= since else None
            for e, x in entities.items()
            if e not in (SCHEMA, HASHES)
        }
        try:
            doc = json.loads(self._read(configuration, SCHEMA, SCHEMA_COLLECTION, "db", run))
            state.stored_at = doc.get("bookkeeping", {}).get("created")
        except (ValueError, AttributeError):
            pass
        return state

    def _read(self, configuration, entity, collection, dataformat, run):
        query = {
            "operation": "load",
            "dataformat": dataformat,
            "collection": collection,
            "filter": {"configurations.name": configuration, "entities.name": entity},
        }
        return self.call("read_document", query, run=run)

    def exported(self, run):
        state = self.latest(run)
        if state is None:
            raise self.error("run is not archived", run)
        return {
            "%s.fcl" % entity: self._read(state.configuration, entity, entry.collection, "origin", run)
            for entity, entry in state.entities.items()
        }

    def _same(self, state, entity, data):
        """Compared as documents (the archive has no md5 for entity, e.g. a bulkloader run): parsed by
        rra.fhicl, which makes what the C++ makes, so a bad file cannot abort this process."""
        from ..fhicl import FhiclError, cppjson, to_document

        try:
            new = to_document(data.decode("utf-8", "surrogateescape"), entity)
        except FhiclError:
            return False  # storing it reports the problem
        entry = state.entities[entity]
        text = self._read(state.configuration, entity, entry.collection, "db", state.run)
        try:
            return same_document(cppjson.loads(text.encode("utf-8", "surrogateescape")), new)
        except (cppjson.JSONError, KeyError, TypeError, AttributeError):
            return False

    def _write(self, batch, stop=None):
        return _each_run(self._write_run, batch, stop)

    def _write_run(self, run, configuration, version, items, md5s):
        """Every file is parsed, then stored, in a child process: the C++ library aborts the whole
        process on some input (an @table:: splice), and that must fail this run alone."""
        stamp = timestamp()
        todo = []
        for entity, collection, data in items:
            text = "\n".join(hashes_lines(md5s)) if data is None else data.decode("utf-8", "surrogateescape")
            query = {
                "operation": "store",
                "dataformat": "fhicl",
                "collection": collection,
                "filter": {
                    "configurations.name": configuration,
                    "version": version,
                    "entities.name": entity,
                    "runs.name": str(run),
                },
            }
            todo.append((entity, query, text))
        self._in_child(run, todo)
        return self.stored_at(run) or stamp

    def _in_child(self, run, todo):
        """Parse every file (nothing is stored if one fails), then store them; a crash names the file."""
        read_end, write_end = os.pipe()
        with tempfile.TemporaryFile() as stderr:
            pid = os.fork()
            if pid == 0:  # pragma: no cover (the child)
                code = 1
                try:
                    import faulthandler

                    faulthandler.disable()  # an abort here is expected and reported by the parent
                    os.close(read_end)
                    os.dup2(stderr.fileno(), 1)
                    os.dup2(stderr.fileno(), 2)
                    say = lambda *what: os.write(write_end, (json.dumps(what) + "\n").encode())
                    os.environ["ARTDAQ_DATABASE_URI"] = self.uri
                    for step, call in (
                        ("parse", lambda q, t, e: self.api.fhicl_to_json(t, e + ".fcl")),
                        ("store", lambda q, t, e: self.api.write_document(json.dumps(q), t)),
                    ):
                        for entity, query, text in todo:
                            say(step, entity)
                            ok, out = call(query, text, entity)
                            if ok is not True:
                                say("error", entity, "conftoolp cannot %s it: %s" % (step, cpp_message(out)))
                                os._exit(1)
                    code = 0
                finally:
                    os._exit(code)
            os.close(write_end)
            with os.fdopen(read_end, "rb") as pipe:
                said = [json.loads(line) for line in pipe.read().decode("utf-8", "replace").splitlines()]
            status = os.waitpid(pid, 0)[1]
            stderr.seek(0)
            detail = cpp_message(stderr.read().decode("utf-8", "replace"))
        last = said[-1] if said else ["parse", None]
        where = "%s.fcl" % last[1] if last[1] else None
        if last[0] == "error":
            raise self.error(last[2], run, where)
        if os.WIFSIGNALED(status):
            raise self.error(
                "the C++ library crashed (%s) in %s: %s%s"
                % (
                    signal.Signals(os.WTERMSIG(status)).name,
                    "fhicl_to_json" if last[0] == "parse" else "write_document",
                    detail,
                    "" if last[0] == "parse" else " (part of this version is stored)",
                ),
                run,
                where,
            )
        if os.WEXITSTATUS(status) != 0:
            raise self.error("conftoolp child exited %d: %s" % (os.WEXITSTATUS(status), detail), run, where)


class ToolsDB(ArtdaqDB):
    """Stores with bulkloader and exports with bulkdownloader (legacy `use_tools: true`), locally or
    on remote_host over ssh. The tools cannot list, so listing uses the native reader
    (filesystemdb://) or conftoolp (mongodb://)."""

    backend = "tools"

    def __init__(self, uri, fcl_conf_dir=None, remote_host=None):
        super().__init__(uri, fcl_conf_dir)
        self.remote_host = remote_host
        if scheme(uri) == "filesystemdb":
            from .filesystem import FilesystemDB

            self.reader = FilesystemDB(uri, fcl_conf_dir)
        else:
            try:
                self.reader = ConftoolpDB(uri, fcl_conf_dir)
            except ArtdaqDBError as e:
                raise self.error(
                    "backend tools cannot list a mongodb:// database by itself (bulkdownloader "
                    "needs the configuration name); it uses conftoolp for that: %s" % e.message
                ) from None
        if not remote_host:
            missing = [t for t in ("bulkloader", "bulkdownloader") if not shutil.which(t)]
            if missing:
                raise self.error("backend tools needs %s on PATH" % " and ".join(missing))

    def runs(self):
        return self.reader.runs()

    def latest(self, run):
        return self.reader.latest(run)

    def _run_locks(self, runs):
        return self.reader._run_locks(runs)

    def _same(self, state, entity, data):
        return self.reader._same(state, entity, data)

    def tool(self, run, name, args, directory, download=False):
        """Run bulkloader/bulkdownloader on directory, here or on remote_host.

        The database URI (it may hold a password) goes to the tool in its environment, and to
        the remote host as the first line of ssh's stdin: never in an argv that `ps` shows.
        Files travel as a tar stream; the remote work dir is made by mktemp -d.
        """
        if not self.remote_host:
            command = [name] + args + ["-p", str(directory)]
            env = dict(os.environ, ARTDAQ_DATABASE_URI=self.uri)
            done = self._run(run, name, command, None, env=env, cwd=str(directory))
        else:
            tool = "%s %s" % (name, " ".join(shlex.quote(a) for a in args))
            script = (
                "IFS= read -r ARTDAQ_DATABASE_URI || exit 97; export ARTDAQ_DATABASE_URI; "
                't=$(mktemp -d "${TMPDIR:-/tmp}/rra_%s.XXXXXXXXXX") || exit 98; ' % name
            )
            if download:  # the tool's output to stderr, the exported files as a tar stream on stdout
                script += '(%s -p "$t") >&2; rc=$?; [ $rc = 0 ] && tar czf - -C "$t" .; ' % tool
                stdin = b""
            else:
                script += 'tar xzf - -C "$t" && (%s -p "$t"); rc=$?; ' % tool
                stdin = _tar(directory)
            script += 'rm -rf "$t"; exit $rc'
            command = ["ssh", "-o", "BatchMode=yes", self.remote_host, "bash -c %s" % shlex.quote(script)]
            done = self._run(run, name, command, self.uri.encode() + b"\n" + stdin)
            if download:
                _untar(done.stdout, directory, lambda msg: self.error(msg, run))
        return done

    def _run(self, run, name, command, feed, env=None, cwd=None):
        given = {"input": feed} if feed is not None else {"stdin": subprocess.DEVNULL}
        try:
            done = subprocess.run(command, capture_output=True, env=env, cwd=cwd, timeout=TOOL_TIMEOUT, **given)
        except subprocess.TimeoutExpired:
            raise self.error("%s timed out after %ds" % (name, TOOL_TIMEOUT), run) from None
        except OSError as e:
            raise self.error("cannot run %s: %s" % (command[0], e.strerror), run) from None
        if done.returncode != 0:
            output = (done.stderr or b"").decode("utf-8", "replace") + (
                done.stdout.decode("utf-8", "replace") if name == "bulkloader" else ""
            )
            raise ToolFailed(name, done.returncode, output)
        return done

    def _write(self, batch, stop=None):
        return _each_run(self._write_run, batch, stop)

    def _write_run(self, run, configuration, version, items, md5s):
        if version != configuration:
            raise self.error(
                "bulkloader stores only first versions (%s), not the update %s; use backend "
                "native or conftoolp to store updates" % (configuration, version),
                run,
            )
        config_name = configuration.split("/", 1)[1]
        with tempfile.TemporaryDirectory(prefix="rra-bulkloader-") as tmp:
            for entity, collection, data in items:
                text = "\n".join(hashes_lines(md5s)).encode() if data is None else data
                Path(tmp, "%s.fcl" % entity).write_bytes(text)
            native = hasattr(self.reader, "lock")
            # An intent first: whatever ends this store early (bulkloader refusing a file, a kill, a
            # power cut), what bulkloader stored of the run is taken out again, now or by the next sweep.
            if native:
                self.reader.path.mkdir(parents=True, exist_ok=True)
            intent = self.reader._begin({}, [], configuration) if native else None
            touched = sorted({c for _, c, _ in items} | {DEFAULT_COLLECTION, SCHEMA_COLLECTION})
            try:
                with contextlib.ExitStack() as locks:
                    if native:  # keep native writers off the indexes bulkloader rewrites
                        for collection in touched:
                            locks.enter_context(self.reader.lock(collection))
                    self.tool(run, "bulkloader", ["-r", str(run), "-c", config_name, "-t", "1"], tmp)
            except BaseException as e:
                try:
                    if intent:
                        self.reader._roll_back(intent)  # (the locks are free again: it takes them itself)
                except (OSError, ArtdaqDBError) as failed:  # the disk may be full: the next sweep finishes it
                    log.warning("artdaqDB store not rolled back yet (%s); the next archiver run will", failed)
                if not isinstance(e, ToolFailed):
                    raise
                left = "" if native else " (what it stored is left in place)"
                raise self.error(
                    "bulkloader exited %d: %s%s" % (e.code, cpp_message(e.output), left), run, _failed_file(e.output)
                ) from None
            if intent:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(str(intent))
        return self.stored_at(run)

    def export(self, run, out_dir):
        state = self.latest(run)
        if state is None:
            raise self.error("run is not archived", run)
        config_name = state.configuration.split("/", 1)[1]
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="rra-bulkdownloader-") as tmp:
            try:
                args = ["-r", str(run), "-c", config_name, "-t", "1"]
                self.tool(run, "bulkdownloader", args, tmp, download=True)
            except ToolFailed as e:
                message = cpp_message(e.output)
                raise self.error("bulkdownloader exited %d: %s" % (e.code, message), run) from None
            found = list(Path(tmp).glob("schema.fcl")) + list(Path(tmp, re.sub(r"\d+$", "", config_name)).glob("*.fcl"))
            if not found:
                raise self.error("bulkdownloader exported nothing", run)
            written = []
            for path in found:
                shutil.copyfile(str(path), str(out / path.name))
                written.append(out / path.name)
        missing = set(state.entities) - {p.stem for p in written}
        if missing:  # bulkdownloader exits 0 even when reads fail
            raise self.error("bulkdownloader did not export %s" % ", ".join(sorted(missing)), run)
        return sorted(written)


class ToolFailed(RraError):
    """A tool's non-zero exit, with its output for the message."""

    def __init__(self, name, code, output):
        super().__init__("%s exited %d" % (name, code))
        self.code, self.output = code, output


def _tar(directory):
    """A directory's files as a tar.gz stream (for the remote host)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path in sorted(Path(directory).iterdir()):
            tar.add(str(path), arcname=path.name)
    return buf.getvalue()


def _untar(data, directory, error):
    """Unpack the remote export: regular files and directories only, inside directory."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for member in tar.getmembers():
                name = os.path.normpath(member.name)
                if name == ".":
                    continue
                if name.startswith(("..", "/")) or not (member.isfile() or member.isdir()):
                    raise error("bulkdownloader sent an unsafe path %r" % member.name)
                target = Path(directory, name)
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(tar.extractfile(member).read())
    except (tarfile.TarError, EOFError) as e:
        raise error("the export from the remote host is not a tar stream: %s" % e) from None


def _each_run(write_run, batch, stop):
    """{run: stamp} of write_run for each run of batch, until stop() says True."""
    stamps = {}
    for entry in batch:
        stamps[entry[0]] = write_run(*entry)
        if stop is not None and stop():
            break
    return stamps
