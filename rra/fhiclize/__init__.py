"""fhiclize: a run record's text files -> FHiCL, byte-identical to what the legacy archiver wrote.

A run's archive set: every top-level `*.fcl` copied as is; every `<stem>.txt` whose converter is
enabled, converted to `<stem>.fcl`; generated `RunHistory.fcl`; and `RunHistory2.fcl` (the
start/stop-time update) once metadata.txt has a start or stop time. Other `.txt` files are not
archived. Subdirectories, other non-regular entries and symbolic links not named like an archived
file are ignored with a warning (DAQInterface writes none); a link, directory or pipe where an
archived file is expected (`*.fcl`, metadata.txt, an enabled `<stem>.txt`) makes the run fail.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from . import boot, environment, history, lists, metadata, ranks, settings, setup
from .record import FhiclizeError, decode, link_message, read

CONVERT = {
    "metadata": metadata.convert,
    "boot": boot.convert,
    "known_boardreaders_list": lists.convert,
    "settings": settings.convert,
    "setup": setup.convert,
    "environment": environment.convert,
    "ranks": ranks.convert,
}
GENERATORS = ("RunHistory", "RunHistory2")
CONVERTERS = tuple(CONVERT) + GENERATORS

__all__ = ["CONVERTERS", "FhiclizeError", "Result", "fhiclize_run"]


@dataclass
class Result:
    """A run's archive set: file name -> exact bytes (sorted by name), its configuration name, warnings."""

    files: dict[str, bytes] = field(default_factory=dict)
    config_name: str = "standard"
    warnings: list[str] = field(default_factory=list)
    unconverted: list[str] = field(default_factory=list)  # regular files no converter reads
    # name -> {md5, size, mtime_ns} of each record file as read (mtime_ns: stat before the read)
    sources: dict[str, dict] = field(default_factory=dict)


def _enabled(enabled):
    """The `fhiclize_generate` names as a set; like legacy, 'boot.txt' means 'boot' and None means all."""
    if enabled is None:
        return set(CONVERTERS)
    if isinstance(enabled, str):
        raise TypeError("enabled must be a list of names, not the string %r" % enabled)
    names = {n[:-4] if n.endswith((".txt", ".fcl")) else n for n in enabled}
    unknown = names - set(CONVERTERS)
    if unknown:
        raise ValueError("unknown fhiclize_generate names %s; known: %s" % (sorted(unknown), ", ".join(CONVERTERS)))
    return names


def _run_number(run):
    """The run number as legacy took it (int() of the directory name), None if not a number."""
    try:
        return int(run)
    except ValueError:
        return None


def fhiclize_run(run_dir: Path, enabled: Iterable[str] | None = None) -> Result:
    """Convert one run record directory; raise FhiclizeError if it cannot be archived as it is."""
    run_dir = Path(run_dir)
    run, wanted = run_dir.name, _enabled(enabled)
    try:
        with os.scandir(run_dir) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as e:
        raise FhiclizeError("run %s: cannot list the run directory %s: %s" % (run, run_dir, e.strerror)) from None
    files, texts, warnings, unconverted, sources = {}, {}, [], [], {}
    for entry in entries:
        name = entry.name
        stem = name[:-4]
        archived = name.endswith(".fcl") or (name.endswith(".txt") and (stem in wanted or stem == "metadata"))
        if not archived:
            if entry.is_file(follow_symlinks=False):
                unconverted.append(name)
            elif entry.is_symlink():
                warnings.append("run %s: %s is a symbolic link; ignored (not followed)" % (run, name))
            elif entry.is_dir(follow_symlinks=False):
                warnings.append(
                    "run %s: subdirectory %s ignored; a run record is the files of its directory" % (run, name)
                )
            elif not entry.is_file(follow_symlinks=False):
                warnings.append("run %s: %s is not a regular file; ignored" % (run, name))
            continue
        if entry.is_symlink():
            raise FhiclizeError(link_message(run, name))
        try:
            before = entry.stat(follow_symlinks=False).st_mtime_ns
        except OSError:
            before = None  # read() says what is wrong
        data = read(run_dir, name, run)
        sources[name] = {"md5": hashlib.md5(data).hexdigest(), "size": len(data), "mtime_ns": before}
        if name.endswith(".fcl"):
            files[name] = data
        else:
            texts[stem] = decode(data, run, name)
    meta = texts.get("metadata")
    if meta is None:
        raise FhiclizeError(
            "run %s: metadata.txt is missing; DAQInterface writes it first, so this is not a "
            "complete run record: restore it or leave the run out" % run
        )
    if not meta.strip():
        raise FhiclizeError(
            "run %s: metadata.txt is empty; retry once DAQInterface has written it, or restore it" % run
        )
    if not meta.endswith("\n"):
        raise FhiclizeError(
            "run %s: metadata.txt line %d ends without a newline, so the file is truncated or "
            "still being written; retry later" % (run, meta.count("\n") + 1)
        )
    made = {}
    for stem, text in texts.items():
        if stem in CONVERT and stem in wanted:
            made[stem + ".fcl"] = (stem + ".txt", CONVERT[stem](text))
    if "RunHistory" in wanted:
        made["RunHistory.fcl"] = ("metadata.txt", history.run_history(meta, _run_number(run)))
    update = history.run_history2(meta) if "RunHistory2" in wanted else ""
    if update:
        made["RunHistory2.fcl"] = ("metadata.txt", update)
    from .validity import problem  # the FHiCL engine: loaded when a run is built, not with the config

    for name, (source, text) in sorted(made.items()):
        if name in files:
            warnings.append(
                "run %s: %s of the run record is replaced by the one made from %s, as legacy did" % (run, name, source)
            )
        why = problem(text, name)
        if why:
            warnings.append(
                "run %s: %s (from %s) %s; archived as the legacy archiver wrote it" % (run, name, source, why)
            )
        files[name] = text.encode("utf-8")
    return Result(dict(sorted(files.items())), history.config_name(meta), warnings, unconverted, sources)
