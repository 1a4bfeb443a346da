"""validate:R — download the run's key and prove it is what the marker and the blob say.

Its record (validated.md5) is then sealed with the run record's signature taken when this
invocation found the run: later invocations skip the run until the record changes.
"""

import hashlib
import os
from pathlib import Path

from .. import atomic, blob, markers
from ..actions import run_step
from ..discovery import seal
from ..errors import RraError
from .ucondb import guarded

NAME = "validate"
TITLE = "validated"
DOC = "download every uploaded run and check MD5, size and adler32"
UCONDB = True  # its action reads or writes UconDB (the pre-flight asks UconDB first)


class ValidationError(RraError):
    """The archived blob is not what was uploaded: says which numbers differ."""


def target(layout, run):
    return layout.validated(run)


def task(archive, rec):
    validated = str(target(archive.layout, rec.run))
    return {
        "actions": [(run_step, [NAME, rec.run, validate, archive, rec.run, rec.signature])],
        "meta": {"seal": (validated, rec.signature)},
        "file_dep": [str(archive.layout.ucondb_marker(rec.run))],
        "targets": [validated],
    }


def validate(archive, run, signature=None, content_checks=None):
    """Download the key and prove it is what the marker promised and what the blob holds.

    content_checks: the legacy checks of metadata.fcl too (default: app.validate_blobs).
    """
    layout = archive.layout
    validated_path = layout.validated(run)
    try:
        os.unlink(validated_path)  # a failed validation must leave the run unsealed
    except FileNotFoundError:
        pass
    local = Path(layout.blob(run)).read_bytes()
    marker = markers.read(layout.ucondb_marker(run))
    with guarded(archive):
        data, meta = archive.ucondb().get(str(run))
    got_md5 = hashlib.md5(data).hexdigest()
    problems = []
    if str(meta.version_id) != str(marker["version_id"]):
        problems.append("key %s points at version %s, uploaded %s" % (run, meta.version_id, marker["version_id"]))
    if not meta.matches(data):
        from ..ucondb.meta import adler32  # (rra.ucondb loads requests: not on a no-op tick)

        problems.append(
            "downloaded %d bytes adler32 %d, server says %d bytes adler32 %d"
            % (len(data), adler32(data), meta.size, meta.adler32)
        )
    if got_md5 != marker["md5"]:
        problems.append("downloaded MD5 %s, uploaded MD5 %s" % (got_md5, marker["md5"]))
    differ = blob.differences(data, local)
    if differ:
        problems.append("content differs from blob.txt in %s" % ", ".join(differ))
    if (archive.validate_blobs if content_checks is None else content_checks) and not problems:
        problems += content_problems(run, data)
    if problems:
        raise ValidationError(
            "UconDB %s/%s key %s: %s" % (marker["folder"], marker["object"], run, "; ".join(problems))
        )
    atomic.write_text(validated_path, "%s  blob.txt\nversion_id %s\n" % (got_md5, meta.version_id))
    if signature is not None:
        seal(validated_path, signature)


def content_problems(run, data):
    """The legacy content checks: config name, components and package versions in metadata.fcl."""
    try:
        files = blob.unpack(data)[2]
    except ValueError as e:
        return [str(e)]
    meta = files.get("metadata.fcl")
    if meta is None:
        return ["no metadata.fcl section"]
    problems = []
    if "config_name" not in meta:
        problems.append("metadata.fcl has no config_name")
    if "components" not in meta:
        problems.append("metadata.fcl lists no components")
    if "_commit_or_version" not in meta:
        problems.append("metadata.fcl has no package version")
    return problems
