"""A run record as it was written: every regular file, byte for byte, in one deterministic archive.

artdaq_database keeps the FHiCL data, not the files (comments, layout and non-FHiCL files
are gone). This archive keeps the originals for `rra restore`. The container is a
gzipped POSIX tar (PAX), which every tar and Python's standard library read:

- members sorted by name, each a regular file with its mode; owner 0/0 with no names;
  its mtime to the nanosecond in the standard PAX `mtime` record;
- last, `.rra-manifest.json`: the run and each file's MD5, size, mode and mtime, so a
  restore can prove every byte without anything else;
- gzip with no name and mtime 0, so the same record always packs to the same bytes on
  one machine; sameness is decided on the unpacked files, never on the compressed bytes
  (another zlib may compress differently).
"""

import gzip
import hashlib
import io
import json
import os
import stat
import tarfile

from .errors import RraError

MANIFEST = ".rra-manifest.json"
FORMAT = "rra-run-record-files 1"


class RunFilesError(RraError, ValueError):
    """An archive that is not what pack() makes, or a file that cannot be packed or restored."""


def pack(run, paths):
    """The archive of a run record's regular files (paths); bytes."""
    entries = []
    for path in sorted(paths, key=lambda p: os.path.basename(os.fspath(p))):
        name = os.path.basename(os.fspath(path))
        if name == MANIFEST:
            raise RunFilesError("%s: a run record file may not be named %s (rra's manifest)" % (path, MANIFEST))
        st = os.stat(path, follow_symlinks=False)
        if not stat.S_ISREG(st.st_mode):
            raise RunFilesError("%s is not a regular file" % path)
        with open(path, "rb") as f:
            data = f.read()
        entries.append((name, data, stat.S_IMODE(st.st_mode), st.st_mtime_ns))
    return pack_entries(run, entries)


def pack_entries(run, entries):
    """The archive of [(name, bytes, mode, mtime_ns)]; what pack() builds from the files."""
    manifest = {"format": FORMAT, "run": int(run), "files": {}}
    raw = io.BytesIO()
    with tarfile.open(
        fileobj=raw, mode="w", format=tarfile.PAX_FORMAT, encoding="utf-8", errors="surrogateescape"
    ) as tar:
        for name, data, mode, mtime_ns in sorted(entries):
            manifest["files"][name] = {
                "md5": hashlib.md5(data).hexdigest(),
                "size": len(data),
                "mode": "%04o" % mode,
                "mtime_ns": mtime_ns,
            }
            tar.addfile(_info(name, len(data), mode, mtime_ns), io.BytesIO(data))
        text = json.dumps(manifest, indent=1, sort_keys=True).encode() + b"\n"
        tar.addfile(_info(MANIFEST, len(text), 0o644, max([e[3] for e in entries] or [0])), io.BytesIO(text))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, compresslevel=6, mtime=0) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def _info(name, size, mode, mtime_ns):
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.type = size, mode, tarfile.REGTYPE
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = mtime_ns // 10**9
    seconds, ns = divmod(mtime_ns, 10**9)
    if ns:  # sub-second mtimes in the standard PAX record, exactly (a float would round)
        info.pax_headers = {"mtime": "%d.%09d" % (seconds, ns)}
    return info


def unpack(data):
    """(run, {name: (bytes, mode, mtime_ns)}) of an archive, every file checked against its manifest."""
    try:
        raw = gzip.decompress(data)
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:", encoding="utf-8", errors="surrogateescape") as tar:
            members = [(m, tar.extractfile(m).read() if m.isreg() else None) for m in tar.getmembers()]
    except (OSError, EOFError, tarfile.TarError) as e:
        raise RunFilesError("not a run record archive (%s)" % e) from None
    if not members or members[-1][0].name != MANIFEST:
        raise RunFilesError("not a run record archive (no %s at its end)" % MANIFEST)
    try:
        manifest = json.loads(members[-1][1])
        run, listed = int(manifest["run"]), manifest["files"]
    except (ValueError, KeyError, TypeError) as e:
        raise RunFilesError("unreadable %s (%s)" % (MANIFEST, e)) from None
    files = {}
    for member, body in members[:-1]:
        name = member.name
        if body is None or "/" in name or name in (".", "..") or name in files:
            raise RunFilesError("archive member %r is not a plain file of the run record" % name)
        files[name] = (body, member.mode, _mtime_ns(member))
    if sorted(files) != sorted(listed):
        raise RunFilesError("the archive's files %s are not the manifest's %s" % (sorted(files), sorted(listed)))
    for name, (body, mode, mtime_ns) in files.items():
        want = listed[name]
        got = {"md5": hashlib.md5(body).hexdigest(), "size": len(body), "mode": "%04o" % mode, "mtime_ns": mtime_ns}
        if got != want:
            raise RunFilesError(
                "%s: %s in the archive, %s in its manifest" % (name, _differing(got, want), _differing(want, got))
            )
    return run, files


def _mtime_ns(member):
    text = member.pax_headers.get("mtime")
    if text:
        seconds, _, frac = text.partition(".")
        return int(seconds) * 10**9 + int((frac + "000000000")[:9])
    return int(member.mtime) * 10**9


def _differing(a, b):
    return ", ".join("%s %s" % (k, a[k]) for k in sorted(a) if a[k] != b.get(k))


def same_files(a, b):
    """Whether two archives hold the same files (names, bytes, modes, mtimes), however compressed."""
    if a == b:
        return True
    try:
        return unpack(a)[1] == unpack(b)[1]
    except RunFilesError:
        return False


def restore(data, out_dir):
    """Write an archive's files into out_dir (which must be empty or absent); returns the names.

    Each file is written under a temp name, its mode and mtime set, then renamed, so an
    interrupted restore leaves no file that looks complete and is not.
    """
    run, files = unpack(data)
    os.makedirs(out_dir, exist_ok=True)
    if os.listdir(out_dir):
        raise RunFilesError("%s is not empty: restore writes into an empty directory only" % out_dir)
    for name, (body, mode, mtime_ns) in sorted(files.items()):
        path = os.path.join(out_dir, name)
        tmp = os.path.join(out_dir, ".rra-restore.%s" % name)
        with open(tmp, "wb") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.utime(tmp, ns=(mtime_ns, mtime_ns))
        os.rename(tmp, path)
    return run, sorted(files)
