"""The rra command: what doit lacks (config check, inspection tools; later report, recover)."""

import sys
from pathlib import Path

import click

from . import __version__
from . import config as config_mod
from . import log
from .errors import EXPECTED, describe


class Group(click.Group):
    """Known errors end as one line on stderr and exit 1; anything else exits 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except config_mod.ConfigError as e:
            click.echo("rra: %s" % e, err=True)
            sys.exit(1)
        except Exception as e:
            if isinstance(e, EXPECTED):  # a known problem: one line, exit 1
                click.echo("rra: %s" % describe(e), err=True)
                sys.exit(1)
            # an rra bug: say so in one line, traceback in the log
            log.setup().exception("unexpected error")
            click.echo("rra: unexpected error: %s: %s (please report it)" % (type(e).__name__, e), err=True)
            sys.exit(2)


@click.group(cls=Group)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    help="config.yaml (default: $RRA_CONFIG, else ./config.yaml; the template only from the repository directory)",
)
@click.option("-v", "--verbose", is_flag=True, help="debug logging")
@click.version_option(__version__, prog_name="rra", message="%(prog)s %(version)s")
@click.pass_context
def main(ctx, config_file, verbose):
    """rra: the Run Record Archiver. `doit` runs the archive; this adds the tools around it."""
    ctx.obj = {"config": config_file, "verbose": verbose}
    log.setup(verbose=verbose)


def _archive(cfg):
    """The archive the config describes (rra.archive: settings, layout, databases opened once)."""
    from .archive import Archive

    return Archive(cfg)


@main.command("check-config")
@click.argument("cfg", required=False, type=click.Path(dir_okay=False))
@click.option(
    "--connect", is_flag=True, help="also run the archiver's pre-flight: artdaqDB writable, schema.fcl, UconDB answers"
)
@click.pass_obj
def check_config(obj, cfg, connect):
    """Print the effective config (secrets masked); exit 1 with the problem if it is invalid."""
    cfg = config_mod.load(cfg or obj["config"])
    cap, default = cfg["app.batch_size"], config_mod.SCHEMA["app.batch_size"][1]
    if 0 < cap < default:  # the legacy meant runs per batch, several batches per invocation
        log.setup().warning(
            "%s: app.batch_size: %d means at most %d runs per invocation in rra (the "
            "legacy archiver's batch_size was runs per batch, several batches per "
            "invocation); a catch-up takes longer: raise it (default %d) unless "
            "you mean it",
            cfg.path,
            cap,
            cap,
            default,
        )
    click.echo("# effective config from %s" % cfg.path)
    for key, value in cfg.masked().items():
        click.echo("%s: %s" % (key, value))
    if connect:
        from . import preflight
        from .archive import Archive

        archive = Archive(cfg)
        problems = preflight.artdaqdb_problems(archive)
        click.echo("# artdaqDB: %s" % ("; ".join(problems) or "ok"))
        why = preflight.ucondb_problem(archive)
        click.echo("# UconDB: %s" % (why or "ok"))
        if problems or why:
            sys.exit(1)


@main.command("fhiclize")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--generate", multiple=True, help="converters to enable (default: all)")
def fhiclize_cmd(run_dir, out_dir, generate):
    """Write the FHiCL set of one run record directory into OUT_DIR (no config needed)."""
    from . import fhiclset
    from .fhiclize import CONVERTERS, FhiclizeError

    run = Path(run_dir).resolve().name
    try:
        manifest = fhiclset.build(run, run_dir, out_dir, list(generate) or list(CONVERTERS))
    except (FhiclizeError, ValueError) as e:
        raise click.ClickException(str(e))
    except OSError as e:
        raise click.ClickException("%s: %s" % (e.filename or out_dir, e.strerror))
    for name in manifest["files"]:
        click.echo(str(Path(out_dir) / name))


@main.command("report")
@click.option("--json", "as_json", is_flag=True, help="machine-readable (docs/report.md)")
@click.option("--live", is_flag=True, help="also ask artdaqDB and UconDB and show disagreements")
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False),
    help="write the status page to this file instead (an index.html gets runs/<R>.html)",
)
@click.pass_obj
def report_cmd(obj, as_json, live, html_file):
    """Where every run stands: per stage counts, ranges, gaps, failures, what to do."""
    import json
    from . import report

    cfg = config_mod.load(obj["config"])
    log.setup(cfg, obj["verbose"])
    rep = report.collect(_archive(cfg), live=live)
    from . import htmlpage, overview  # the status page (docs/operations.md)

    overview.extend(rep, cfg)
    if html_file:
        htmlpage.write(rep, html_file)
        if not as_json:
            return
    click.echo(json.dumps(rep, indent=1, sort_keys=True) if as_json else report.render(rep), nl=as_json)


@main.command("status")
@click.argument("run", type=int)
@click.option("--json", "as_json", is_flag=True, help="machine-readable")
@click.option("--live", is_flag=True, help="also ask artdaqDB and UconDB what they hold now")
@click.pass_obj
def status_cmd(obj, run, as_json, live):
    """One run's story: each stage done or not, when, versions, the last failure, how to retry."""
    from . import status

    cfg = config_mod.load(obj["config"])
    log.setup(cfg, obj["verbose"])
    try:
        story = status.collect(_archive(cfg), run, live=live)
    except status.NoSuchRun as e:
        raise click.ClickException(str(e))
    click.echo(status.dumps(story) if as_json else status.render(story), nl=as_json)


@main.command("recover")
@click.option("--stage", type=click.Choice(["import", "migrate", "all"]), default="all", show_default=True)
@click.option("--dry-run", is_flag=True, help="say what would be recovered; write nothing")
@click.pass_obj
def recover_cmd(obj, stage, dry_run):
    """Rebuild targets and doit's state from what artdaqDB and UconDB hold (uploads nothing)."""
    import logging
    from . import recover
    from .lock import ArchiverLock, LockedError

    cfg = config_mod.load(obj["config"])
    log.setup(cfg, obj["verbose"])
    archive = _archive(cfg)
    lock = ArchiverLock(archive.lock_file, archive.work_dir)
    try:
        lock.acquire("rra recover")
    except LockedError as e:
        click.echo("rra: %s" % e, err=True)
        sys.exit(1)
    try:
        out = recover.recover(archive, stage, dry_run)
    finally:
        lock.release()
    for line in recover.summary(out, archive, dry_run):
        click.echo(line)
        if not dry_run:
            logging.getLogger("rra").info("recover: %s", line.strip())
    for run, message in out.failed:
        prefix = "run %d: " % run
        click.echo(message if message.startswith(prefix) else prefix + message, err=True)
    if not dry_run:
        click.echo("next: run `doit` to do the remaining work")
    sys.exit(1 if out.failed else 0)


@main.command("restore")
@click.argument("run", type=int)
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--version", "version", type=int, help="a version id (default: what key RUN holds now)")
@click.pass_obj
def restore_cmd(obj, run, out_dir, version):
    """Rebuild run RUN's record into OUT_DIR (empty) from UconDB alone, byte for byte with mtimes."""
    from . import restore

    cfg = config_mod.load(obj["config"])
    log.setup(cfg, obj["verbose"])
    for line in restore.restore(_archive(cfg), run, out_dir, version):
        click.echo(line)


@main.command("diff")
@click.argument("run", type=int)
@click.option("--from", "old", type=int, help="older version id (default: the one before the newest)")
@click.option("--to", "new", type=int, help="newer version id (default: the newest)")
@click.option("--blob", is_flag=True, help="compare the configuration blobs, not the run record files")
@click.pass_obj
def diff_cmd(obj, run, old, new, blob):
    """What changed between two archived versions of run RUN: a unified diff per file."""
    from . import restore

    cfg = config_mod.load(obj["config"])
    log.setup(cfg, obj["verbose"])
    old, new, text = restore.diff(_archive(cfg), run, old, new, "blob" if blob else "files")
    click.echo(text or "versions %s and %s of run %s hold the same files" % (old, new, run), nl=not text)


def _register():
    """Command groups that live with their libraries."""
    from .artdaqdb.cli import artdaqdb
    from .fhicl.cli import fhicl

    main.add_command(fhicl)
    main.add_command(artdaqdb)


_register()


if __name__ == "__main__":
    main()
