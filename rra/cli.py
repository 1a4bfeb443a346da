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
        except Exception as e:  # an rra bug: say so in one line, traceback in the log
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
@click.pass_obj
def check_config(obj, cfg):
    """Print the effective config (secrets masked); exit 1 with the problem if it is invalid."""
    cfg = config_mod.load(cfg or obj["config"])
    click.echo("# effective config from %s" % cfg.path)
    for key, value in cfg.masked().items():
        click.echo("%s: %s" % (key, value))


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
    except FhiclizeError as e:
        raise click.ClickException(str(e))
    except OSError as e:
        raise click.ClickException("%s: %s" % (e.filename or out_dir, e.strerror))
    for name in manifest["files"]:
        click.echo(str(Path(out_dir) / name))


def _add_optional(module, name):
    """Attach a command group that lives with its library."""
    try:
        group = getattr(__import__(module, fromlist=[name]), name)
    except (ImportError, AttributeError):
        return
    main.add_command(group)


_add_optional("rra.fhicl.cli", "fhicl")
_add_optional("rra.artdaqdb.cli", "artdaqdb")


if __name__ == "__main__":
    main()
