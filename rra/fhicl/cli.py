"""`rra fhicl ...`: the FHiCL engine from the command line, for checking files by hand."""

import sys
from pathlib import Path

import click

from . import cppjson
from .document import to_document
from .errors import FhiclError
from .writer import to_fhicl


def _read(path):
    try:
        return Path(path).read_bytes().decode("utf-8", "surrogateescape")
    except OSError as e:
        raise click.ClickException("cannot read %s: %s" % (path, e.strerror or e))


def _emit(text):
    sys.stdout.flush()
    sys.stdout.buffer.write(cppjson.encode_bytes(text))
    sys.stdout.buffer.flush()


def _run(func):
    try:
        return func()
    except FhiclError as e:
        raise click.ClickException(str(e))
    except cppjson.JSONError as e:
        raise click.ClickException("invalid JSON: %s" % e)


@click.group("fhicl")
def fhicl():
    """FHiCL <-> artdaq_database JSON, exactly as the C++ library does it."""


@fhicl.command("to-json")
@click.argument("file", type=click.Path(dir_okay=False))
def to_json_cmd(file):
    """Print the fhicl_to_json document of FILE in the C++ JSON dialect."""
    text = _read(file)
    _emit(_run(lambda: cppjson.dumps(to_document(text, Path(file).name))))


@fhicl.command("to-fhicl")
@click.argument("file", type=click.Path(dir_okay=False))
def to_fhicl_cmd(file):
    """Print the FHiCL artdaq_database exports for FILE.json (fhicl_to_json result or stored record)."""
    text = _read(file)
    _emit(_run(lambda: to_fhicl(cppjson.loads(text))))


@fhicl.command("roundtrip")
@click.argument("file", type=click.Path(dir_okay=False))
def roundtrip_cmd(file):
    """Print what the database gives back for FHiCL FILE: to-fhicl of to-json."""
    text = _read(file)
    _emit(_run(lambda: to_fhicl(to_document(text, Path(file).name))))
