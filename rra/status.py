"""`rra status RUN`: one run's story, stage by stage, from its targets (and, live, the databases).

Like `rra report` it only reads: the run record, the files under runs/RUN/ and,
with live, what artdaqDB and UconDB hold now. A failure record that a later
success made stale is never shown.
"""

import json
import os
import time

from . import markers
from .discovery import is_sealed, signature
from .errors import RraError
from .census import failures
from .stages import target

SCHEMA_VERSION = 1


class NoSuchRun(RraError):
    """Neither a run record nor anything in the work dir: names where it looked."""


def collect(archive, run, live=False):
    """The story as a dict (schema in docs/operations.md)."""
    layout, stages = archive.layout, archive.stage_names
    record = os.path.join(str(archive.records_dir), str(run))
    on_disk = os.path.isdir(record)
    if not on_disk and not layout.run_dir(run).is_dir():
        raise NoSuchRun("run %d: no run record %s and nothing under %s" % (run, record, layout.run_dir(run)))
    story = {
        "schema": SCHEMA_VERSION,
        "run": run,
        "config": str(archive.path),
        "record": _record(record, layout.validated(run)) if on_disk else None,
        "stages": [_stage(layout, run, stage) for stage in stages],
    }
    failed = failures(layout, run)
    for f in failed:
        story["stages"][stages.index(f["stage"])]["failed"] = {"time": f["time"], "error": f["error"]}
    story["failure"] = None
    if failed:
        last = max(failed, key=lambda f: f["at"] or 0)
        story["failure"] = {
            "stage": last["stage"],
            "error": last["error"],
            "time": last["time"],
            "retry": "fix the cause, then `doit %s:%d config=%s` (or wait for the "
            "next tick: a failed task is out of date)" % (last["stage"], run, os.path.abspath(archive.path)),
        }
    if live:
        story["live"] = _live(archive, run)
    story["next"] = _next(story)
    return story


def _record(path, seal_path):
    out = {"path": path, "changed": _when(signature(path) / 1e9), "sealed": is_sealed(path, seal_path), "files": None}
    try:
        out["files"] = len([e for e in os.scandir(path) if e.is_file(follow_symlinks=False)])
    except OSError as e:  # the failure record says what fhiclize made of it
        out["error"] = "cannot list %s: %s" % (path, e.strerror)
    return out


def _when(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(epoch))


def _stage(layout, run, stage):
    path = target(layout, stage, run)
    out = {"stage": stage, "target": str(path), "done": False, "time": None}
    try:
        st = os.stat(path)
    except OSError:
        return out
    # when it was written: validated.md5's mtime is the record's signature (its seal)
    out.update(done=True, time=_when(st.st_ctime if stage == "validate" else st.st_mtime))
    try:
        if stage == "fhiclize":
            manifest = markers.read(path)
            out.update(
                config_name=manifest.get("config_name"),
                files=len(manifest.get("files", ())),
                warnings=manifest.get("warnings", []),
            )
        elif stage == "artdaqdb":
            m = markers.read(path)
            out.update(
                configuration=m.get("configuration"),
                version=m.get("version"),
                versions=_versions(m.get("configuration"), m.get("version")),
                stored_at=m.get("stored_at"),
                database=m.get("database_uri"),
                entities=sorted(m.get("entities", {})),
            )
        elif stage == "blob":
            out.update(size=st.st_size)
        elif stage == "ucondb":
            m = markers.read(path)
            out.update(
                {
                    k: m.get(k)
                    for k in ("server_url", "folder", "object", "key", "version_id", "size", "adler32", "adopted")
                }
            )
            out["uploaded"] = m.get("time")
            if m.get("replaced") is not None:
                out.update(replaced=m["replaced"], differing=m.get("differing", []))
        elif stage == "validate":
            words = path.read_text().split()
            out.update(
                md5=words[0] if words else None,
                version_id=words[words.index("version_id") + 1] if "version_id" in words[:-1] else None,
            )
    except (OSError, ValueError, AttributeError) as e:
        out["unreadable"] = str(e)
    return out


def _versions(configuration, version):
    """Every artdaqDB version of the run up to version: R/C, R/Cv1, ... (as the store numbers them)."""
    from .artdaqdb.runs import version_number

    if not configuration or not version:
        return []
    n = version_number(version, configuration)
    return [configuration] + ["%sv%d" % (configuration, i) for i in range(1, n + 1)] if n >= 0 else [version]


def _live(archive, run):
    """What the two databases hold for the run now (one line per database that cannot be read)."""
    out = {"artdaqdb": None, "ucondb": None, "errors": []}
    try:
        state = archive.artdaqdb().latest(run)
        if state is not None:
            out["artdaqdb"] = {
                "configuration": state.configuration,
                "version": state.version,
                "versions": _versions(state.configuration, state.version),
                "stored_at": state.stored_at,
                "entities": sorted(state.entities),
            }
    except Exception as e:  # name what could not be read
        out["errors"].append("artdaqDB: %s" % e)
    try:
        m = archive.ucondb().meta(str(run))  # an overridden version loses its key
        out["ucondb"] = (
            {"present": False}
            if m is None
            else {
                "present": True,
                "version_id": m.version_id,
                "size": m.size,
                "adler32": m.adler32,
                "stored": _when(m.tr) if m.tr else None,
            }
        )
    except Exception as e:
        out["errors"].append("UconDB: %s" % e)
    return out


def _next(story):
    """What happens to the run next, in plain words."""
    done = {s["stage"]: s["done"] for s in story["stages"]}
    rec = story["record"]
    if story["failure"]:
        return "the next invocation retries %s:%d" % (story["failure"]["stage"], story["run"])
    if rec is None:
        return "the run record is gone from disk; what was archived stays archived"
    if rec["sealed"]:
        return "nothing: archived, validated and unchanged since (sealed)"
    if done["validate"]:
        return "the record changed since it was archived: the next invocation archives it again"
    todo = [s["stage"] for s in story["stages"] if not s["done"]]
    return "the next invocation does %s" % ", ".join("%s:%d" % (s, story["run"]) for s in todo)


def render(story):
    """The story as text, a few lines per stage."""
    run = story["run"]
    lines = ["run %d" % run]
    rec = story["record"]
    if rec:
        lines.append(
            "  record     %s: %s files, last changed %s%s"
            % (
                rec["path"],
                "?" if rec["files"] is None else rec["files"],
                rec["changed"],
                ", sealed" if rec["sealed"] else "",
            )
        )
    else:
        lines.append("  record     none on disk")
    for st in story["stages"]:
        lines.append("  %-10s %s" % (st["stage"], _stage_line(st)))
        if st["done"]:
            lines.append("             %s" % st["target"])
    failure = story["failure"]
    if failure:
        lines += [
            "",
            "last failure: %s at %s" % (failure["stage"], failure["time"]),
            "  " + failure["error"],
            "retry: " + failure["retry"],
        ]
    live = story.get("live")
    if live:
        lines += ["", "live:"]
        adb = live["artdaqdb"]
        if adb:
            lines.append(
                "  artdaqDB   %s (%d versions: %s), stored %s, %d entities"
                % (
                    adb["version"],
                    len(adb["versions"]),
                    ", ".join(adb["versions"]),
                    adb["stored_at"],
                    len(adb["entities"]),
                )
            )
        elif not any(e.startswith("artdaqDB") for e in live["errors"]):
            lines.append("  artdaqDB   does not hold run %d" % run)
        ucon = live["ucondb"]
        if ucon and ucon["present"]:
            lines.append(
                "  UconDB     key %d: version %s, %d bytes, adler32 %d, stored %s"
                % (run, ucon["version_id"], ucon["size"], ucon["adler32"], ucon["stored"])
            )
        elif ucon is not None:
            lines.append("  UconDB     no key %d" % run)
        lines += ["  " + e for e in live["errors"]]
    lines += ["", "next: " + story["next"]]
    return "\n".join(lines) + "\n"


def _stage_line(st):
    if st.get("failed"):
        return "FAILED %s (last attempt; see below)%s" % (
            st["failed"]["time"],
            "; an older target is still there" if st["done"] else "",
        )
    if not st["done"]:
        return "not done"
    say = "done %s" % st["time"]
    if st["stage"] == "fhiclize":
        say += ": %s, %d files%s" % (
            st.get("config_name"),
            st.get("files", 0),
            ", %d warnings" % len(st["warnings"]) if st.get("warnings") else "",
        )
    elif st["stage"] == "artdaqdb":
        say += ": %s (versions %s), stored %s" % (
            st.get("version"),
            ", ".join(st.get("versions", [])),
            st.get("stored_at"),
        )
    elif st["stage"] == "blob":
        say += ": %d bytes" % st["size"]
    elif st["stage"] == "ucondb":
        how = "adopted" if st.get("adopted") else "uploaded"
        if st.get("replaced") is not None:
            how = "replaced version %s (differing: %s)" % (st["replaced"], ", ".join(st["differing"]))
        say += ": key %s version %s, %s" % (st.get("key"), st.get("version_id"), how)
    elif st["stage"] == "validate":
        say += ": version %s, md5 %s" % (st.get("version_id"), st.get("md5"))
    return say


def dumps(story):
    return json.dumps(story, indent=1, sort_keys=True)
