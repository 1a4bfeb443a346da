"""The rra command: what doit lacks (config check, inspection tools; later report, recover)."""
import sys
from pathlib import Path

import click

from . import config as config_mod
from . import log


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
            from .actions import describe, expected_errors
            if isinstance(e, expected_errors()):  # a known problem: one line, exit 1
                click.echo("rra: %s" % describe(e), err=True)
                sys.exit(1)
            # an rra bug: say so in one line, traceback in the log
            log.setup().exception("unexpected error")
            click.echo("rra: unexpected error: %s: %s (please report it)"
                       % (type(e).__name__, e), err=True)
            sys.exit(2)


@click.group(cls=Group)
@click.option("--config", "config_file", type=click.Path(dir_okay=False),
              help="config.yaml (default: $RRA_CONFIG, ./config.yaml, else the template)")
@click.option("-v", "--verbose", is_flag=True, help="debug logging")
@click.pass_context
def main(ctx, config_file, verbose):
    """rra: the Run Record Archiver. `doit` runs the archive; this adds the tools around it."""
    ctx.obj = {"config": config_file, "verbose": verbose}
    log.setup(verbose=verbose)


@main.command("check-config")
@click.argument("cfg", required=False, type=click.Path(dir_okay=False))
@click.option("--connect", is_flag=True,
              help="also run the archiver's pre-flight: artdaqDB writable, schema.fcl, UconDB answers")
@click.pass_obj
def check_config(obj, cfg, connect):
    """Print the effective config (secrets masked); exit 1 with the problem if it is invalid."""
    cfg = config_mod.load(cfg or obj["config"])
    click.echo("# effective config from %s" % cfg.path)
    for key, value in cfg.masked().items():
        click.echo("%s: %s" % (key, value))
    if connect:
        from . import preflight
        problems = preflight.artdaqdb_problems(cfg)
        click.echo("# artdaqDB: %s" % ("; ".join(problems) or "ok"))
        why = preflight.ucondb_problem(cfg)
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
@click.option("--html", "html_file", type=click.Path(dir_okay=False),
              help="write the status page to this file instead (an index.html gets runs/<R>.html)")
@click.pass_obj
def report_cmd(obj, as_json, live, html_file):
    """Where every run stands: per stage counts, ranges, gaps, failures, what to do."""
    import json
    from . import report
    cfg = config_mod.load(obj["config"])
    log.setup(cfg, obj["verbose"])
    rep = report.collect(cfg, live=live)
    from . import htmlpage, overview  # the status page (docs/operations.md)
    overview.extend(rep, cfg)
    if html_file:
        htmlpage.write(rep, html_file)
        if not as_json:
            return
    click.echo(json.dumps(rep, indent=1, sort_keys=True) if as_json else report.render(rep),
               nl=as_json)


@main.command("recover")
@click.option("--stage", type=click.Choice(["import", "migrate", "all"]), default="all",
              show_default=True)
@click.option("--dry-run", is_flag=True, help="say what would be recovered; write nothing")
@click.pass_obj
def recover_cmd(obj, stage, dry_run):
    """Rebuild targets and doit's state from what artdaqDB and UconDB hold (uploads nothing)."""
    from . import recover, report
    from .lock import ArchiverLock, LockedError
    cfg = config_mod.load(obj["config"])
    log.setup(cfg, obj["verbose"])
    lock = ArchiverLock(cfg["app.lock_file"])
    try:
        lock.acquire("rra recover")
    except LockedError as e:
        click.echo("rra: %s" % e, err=True)
        sys.exit(1)
    try:
        out = recover.recover(cfg, stage, dry_run)
    finally:
        lock.release()
    verb = "would be" if dry_run else ""
    for title, runs in (("verified in artdaqDB", out.imported),
                        ("verified in UconDB", out.migrated),
                        ("left for doit to import", out.to_import),
                        ("left for doit to migrate", out.to_migrate)):
        if runs:
            click.echo("%d runs %s%s: %s" % (len(runs), verb + " " if verb and "verified" in title
                                               else "", title, report.spell(report.ranges(runs), 8)))
    for run, message in out.failed:
        click.echo("run %d: %s" % (run, message), err=True)
    if not dry_run:
        click.echo("next: run `doit` to do the remaining work")
    sys.exit(1 if out.failed else 0)


def _register():
    """Command groups that live with their libraries."""
    from .artdaqdb.cli import artdaqdb
    from .fhicl.cli import fhicl
    main.add_command(fhicl)
    main.add_command(artdaqdb)


_register()


if __name__ == "__main__":
    main()
