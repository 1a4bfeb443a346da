"""`rra artdaqdb`: look into an artdaq_database archive without the C++ tools."""

import sys

import click

from . import BACKENDS, ArtdaqDBError, open_artdaqdb


class Group(click.Group):
    """Known failures end as one line on stderr and exit 1, never a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ArtdaqDBError as e:
            click.echo("rra artdaqdb: %s" % e, err=True)
            sys.exit(1)
        except OSError as e:
            click.echo("rra artdaqdb: %s: %s" % (e.filename or "", e.strerror or e), err=True)
            sys.exit(1)


@click.group("artdaqdb", cls=Group)
@click.option("--backend", type=click.Choice(BACKENDS), default="auto", show_default=True)
@click.option("--fcl-conf-dir", type=click.Path(file_okay=False), help="directory of schema.fcl")
@click.option("--remote-host", help="run bulkloader/bulkdownloader there over ssh (backend tools)")
@click.pass_context
def artdaqdb(ctx, backend, fcl_conf_dir, remote_host):
    """artdaq_database archive tools: list runs, export a run, check and repair indexes."""
    ctx.obj = dict(ctx.obj or {}, artdaqdb=lambda uri: open_artdaqdb(uri, backend, fcl_conf_dir, remote_host))


@artdaqdb.command("runs")
@click.argument("uri")
@click.pass_obj
def runs_cmd(obj, uri):
    """Print the archived run numbers, one per line, ascending."""
    for run in obj["artdaqdb"](uri).runs():
        click.echo(run)


@artdaqdb.command("export")
@click.argument("uri")
@click.argument("run", type=int)
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.pass_obj
def export_cmd(obj, uri, run, out_dir):
    """Write every entity of RUN (newest versions) as OUT_DIR/<entity>.fcl."""
    for path in obj["artdaqdb"](uri).export(run, out_dir):
        click.echo(str(path))


@artdaqdb.command("check")
@click.argument("uri")
@click.option("--repair", is_flag=True, help="rebuild indexes from the documents (old ones backed up)")
@click.option("--backup-dir", type=click.Path(file_okay=False), help="where --repair keeps the old files")
@click.pass_obj
def check_cmd(obj, uri, repair, backup_dir):
    """Verify index.json <-> documents of a filesystemdb; exit 1 if there is any problem."""
    from .check import check, repair as rebuild

    db = obj["artdaqdb"](uri)
    problems = check(db)
    for line in problems:
        click.echo(line)
    if problems and repair:
        for line in rebuild(db, backup_dir):
            click.echo("repair: %s" % line)
        problems = check(db)
        for line in problems:
            click.echo("still: %s" % line)
    click.echo("%d problem%s" % (len(problems), "" if len(problems) == 1 else "s"), err=True)
    sys.exit(1 if problems else 0)
