"""The C++ stack as optional backends: the conftoolp SWIG module, or the bulkloader/bulkdownloader tools.

Only sites with the C++ bundle have them (and only they can serve mongodb://); the native backend
is the default. Both follow the run-level rules of runs.py, so the archive they leave is the same.
"""
import contextlib
import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

from .errors import ArtdaqDBError
from .record import HASHES, SCHEMA, hashes_lines, timestamp
from .runs import SCHEMA_COLLECTION, ArtdaqDB, Entry, RunState, version_number
from .uri import scheme

TOOL_TIMEOUT = 600


@contextlib.contextmanager
def _database_uri(uri):
    """The C++ library reads its database from ARTDAQ_DATABASE_URI."""
    old = os.environ.get('ARTDAQ_DATABASE_URI')
    os.environ['ARTDAQ_DATABASE_URI'] = uri
    try:
        yield
    finally:
        if old is None:
            os.environ.pop('ARTDAQ_DATABASE_URI', None)
        else:
            os.environ['ARTDAQ_DATABASE_URI'] = old


class ConftoolpDB(ArtdaqDB):
    """artdaq_database through its SWIG module (filesystemdb:// or mongodb://)."""
    backend = 'conftoolp'

    def __init__(self, uri, fcl_conf_dir=None):
        super().__init__(uri, fcl_conf_dir)
        try:
            import conftoolp
        except ImportError as e:
            raise self.error('backend conftoolp needs the artdaq_database SWIG module (%s); put its '
                             'directory on PYTHONPATH and LD_LIBRARY_PATH, or use backend native for '
                             'filesystemdb://' % e) from None
        self.api = conftoolp
        conftoolp.set_default_locale()

    def call(self, name, query, *args, run=None):
        """One conftoolp call; its (ok, text) failure becomes an ArtdaqDBError."""
        with _database_uri(self.uri):
            try:
                ok, out = getattr(self.api, name)(json.dumps(query), *args)
            except Exception as e:
                raise self.error('conftoolp.%s raised %s: %s' % (name, type(e).__name__, e), run) from None
        if ok is not True:
            raise self.error('conftoolp.%s failed: %s' % (name, out), run)
        return out

    def _configurations(self, pattern):
        query = {'operation': 'findconfigs', 'dataformat': 'gui', 'filter': {'configurations.name': pattern}}
        return [c['name'] for c in json.loads(self.call('find_configurations', query))['search']]

    def runs(self):
        return sorted({int(m.group(1)) for m in (re.match(r'\s*(\d+)/', c) for c in self._configurations('*')) if m})

    def latest(self, run):
        configs = [c for c in self._configurations('%d/*' % run) if c.startswith('%d/' % run)]
        if not configs:
            return None
        configuration = configs[0]
        query = {'operation': 'buildfilter', 'dataformat': 'gui', 'filter': {'configurations.name': configuration}}
        entities = {}
        for item in json.loads(self.call('configuration_composition', query, run=run)).get('search', []):
            q = item.get('query') or {}
            f = q.get('filter', {})
            entity = f.get('entities.name', item.get('name'))
            entities[entity] = Entry(q.get('collection', ''), f.get('version', ''), '')
        versions = self.call('find_versions', {'operation': 'findversions', 'dataformat': 'csv',
                                               'collection': SCHEMA_COLLECTION,
                                               'filter': {'entities.name': SCHEMA}}, run=run)
        ours = [v for v in versions.split(',') if version_number(v, configuration) >= 0] or [configuration]
        version = max(ours, key=lambda v: version_number(v, configuration))
        state = RunState(run, configuration, version, None, dict(sorted(entities.items())))
        known, since = {}, 0
        if HASHES in entities:
            text = self._read(configuration, HASHES, entities[HASHES].collection, 'fhicl', run)
            known = dict(re.findall(r'^\s*(\S+?)\s*:\s*(\S+)', text, re.M))
            since = version_number(entities[HASHES].version or configuration, configuration)
        state.md5 = {e: known.get(e) if version_number(x.version or configuration, configuration) <= since else None
                     for e, x in entities.items() if e not in (SCHEMA, HASHES)}
        try:
            doc = json.loads(self._read(configuration, SCHEMA, SCHEMA_COLLECTION, 'db', run))
            state.stored_at = doc.get('bookkeeping', {}).get('created')
        except (ValueError, AttributeError):
            pass
        return state

    def _read(self, configuration, entity, collection, dataformat, run):
        query = {'operation': 'readdocument', 'dataformat': dataformat, 'collection': collection,
                 'filter': {'configurations.name': configuration, 'entities.name': entity}}
        return self.call('read_document', query, run=run)

    def exported(self, run):
        state = self.latest(run)
        if state is None:
            raise self.error('run is not archived', run)
        return {'%s.fcl' % entity: self._read(state.configuration, entity, entry.collection, 'origin', run)
                for entity, entry in state.entities.items()}

    def _write(self, batch, stop=None):
        return _each_run(self._write_run, batch, stop)

    def _write_run(self, run, configuration, version, items, md5s):
        stamp = timestamp()
        for entity, collection, data in items:
            text = '\n'.join(hashes_lines(md5s)) if data is None else data.decode('utf-8', 'surrogateescape')
            query = {'operation': 'store', 'dataformat': 'fhicl', 'collection': collection,
                     'filter': {'configurations.name': configuration, 'version': version,
                                'entities.name': entity, 'runs.name': str(run)}}
            self.call('write_document', query, text, run=run)
        return self.stored_at(run) or stamp


class ToolsDB(ArtdaqDB):
    """Stores with bulkloader and exports with bulkdownloader (legacy `use_tools: true`), locally or
    on remote_host over ssh. The tools cannot list, so listing uses the native reader
    (filesystemdb://) or conftoolp (mongodb://)."""
    backend = 'tools'

    def __init__(self, uri, fcl_conf_dir=None, remote_host=None):
        super().__init__(uri, fcl_conf_dir)
        self.remote_host = remote_host
        if scheme(uri) == 'filesystemdb':
            from .filesystem import FilesystemDB
            self.reader = FilesystemDB(uri, fcl_conf_dir)
        else:
            try:
                self.reader = ConftoolpDB(uri, fcl_conf_dir)
            except ArtdaqDBError as e:
                raise self.error('backend tools cannot list a mongodb:// database by itself (bulkdownloader '
                                 'needs the configuration name); it uses conftoolp for that: %s' % e.message) from None
        if not remote_host:
            missing = [t for t in ('bulkloader', 'bulkdownloader') if not shutil.which(t)]
            if missing:
                raise self.error('backend tools needs %s on PATH' % ' and '.join(missing))

    def runs(self):
        return self.reader.runs()

    def latest(self, run):
        return self.reader.latest(run)

    def _run_locks(self, runs):
        return self.reader._run_locks(runs)

    def tool(self, run, name, args, directory, download=False):
        """Run bulkloader/bulkdownloader on directory, here or on remote_host (files carried by tar)."""
        command = 'export ARTDAQ_DATABASE_URI=%s; %s %s' % (
            shlex.quote(self.uri), name, ' '.join(shlex.quote(a) for a in args))
        d = shlex.quote(str(directory))
        if not self.remote_host:
            shell = 'cd %s && %s -p %s' % (d, command, d)
        else:
            t = shlex.quote('/tmp/rra_%s_%d_%d' % (name, run, os.getpid()))
            ssh = 'ssh -o BatchMode=yes %s ' % shlex.quote(self.remote_host)
            if download:  # tool output to stderr, the exported files as a tar stream on stdout
                remote = ('mkdir -p {t} && ({c} -p {t}) >&2; rc=$?; [ $rc = 0 ] && tar czf - -C {t} .; '
                          'rm -rf {t}; exit $rc').format(t=t, c=command)
                shell = '%s%s | tar xzf - -C %s' % (ssh, shlex.quote(remote), d)
            else:
                remote = 'mkdir -p %s && tar xzf - -C %s && (%s -p %s); rc=$?; rm -rf %s; exit $rc' % (
                    t, t, command, t, t)
                shell = 'tar czf - -C %s . | %s%s' % (d, ssh, shlex.quote(remote))
        try:
            done = subprocess.run(['bash', '-o', 'pipefail', '-c', shell], capture_output=True, text=True,
                                  timeout=TOOL_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise self.error('%s timed out after %ds' % (name, TOOL_TIMEOUT), run) from None
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ['no output']
            raise self.error('%s exited %d: %s' % (name, done.returncode, tail[0].replace(self.uri, self.safe_uri)),
                             run)

    def _write(self, batch, stop=None):
        return _each_run(self._write_run, batch, stop)

    def _write_run(self, run, configuration, version, items, md5s):
        if version != configuration:
            raise self.error('bulkloader stores only first versions (%s), not the update %s; use backend '
                             'native or conftoolp to store updates' % (configuration, version), run)
        config_name = configuration.split('/', 1)[1]
        with tempfile.TemporaryDirectory(prefix='rra-bulkloader-') as tmp:
            for entity, collection, data in items:
                text = '\n'.join(hashes_lines(md5s)).encode() if data is None else data
                Path(tmp, '%s.fcl' % entity).write_bytes(text)
            locks = contextlib.ExitStack()
            if hasattr(self.reader, 'lock'):  # keep native writers off the indexes bulkloader rewrites
                for collection in sorted({c for _, c, _ in items} | {'RunHistory', SCHEMA_COLLECTION}):
                    locks.enter_context(self.reader.lock(collection))
            with locks:
                self.tool(run, 'bulkloader', ['-r', str(run), '-c', config_name, '-t', '1'], tmp)
        return self.stored_at(run)

    def export(self, run, out_dir):
        state = self.latest(run)
        if state is None:
            raise self.error('run is not archived', run)
        config_name = state.configuration.split('/', 1)[1]
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix='rra-bulkdownloader-') as tmp:
            self.tool(run, 'bulkdownloader', ['-r', str(run), '-c', config_name], tmp, download=True)
            found = list(Path(tmp).glob('schema.fcl')) + list(Path(tmp, re.sub(r'\d+$', '', config_name)).glob('*.fcl'))
            if not found:
                raise self.error('bulkdownloader exported nothing', run)
            written = []
            for path in found:
                shutil.copyfile(str(path), str(out / path.name))
                written.append(out / path.name)
        missing = set(state.entities) - {p.stem for p in written}
        if missing:  # bulkdownloader exits 0 even when reads fail
            raise self.error('bulkdownloader did not export %s' % ', '.join(sorted(missing)), run)
        return sorted(written)


def _each_run(write_run, batch, stop):
    """{run: stamp} of write_run for each run of batch, until stop() says True."""
    stamps = {}
    for entry in batch:
        stamps[entry[0]] = write_run(*entry)
        if stop is not None and stop():
            break
    return stamps
