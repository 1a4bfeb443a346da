"""The `fhicl` click group: to-json, to-fhicl, roundtrip; errors exit 1 with one line."""

import json
from pathlib import Path

from click.testing import CliRunner

from rra.fhicl.cli import fhicl

DATA = Path(__file__).resolve().parent / "data"  # copied from ../shared: data/README.md
GOLDEN = DATA / "golden/artdaqdb/fhicl"
SAMPLE = GOLDEN / "input/daqinterface/complex_subsystems/component03.fcl"
EXPORTED = GOLDEN / "expected/daqinterface/complex_subsystems/component03.exported.fcl"


def run(*args):
    return CliRunner().invoke(fhicl, [str(a) for a in args])


def test_to_json_and_back(tmp_path):
    result = run("to-json", SAMPLE)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith('{\n"document" : {\n"data" : {\n"prolog" : {\n\n},')
    doc = json.loads(result.stdout, strict=False)
    assert doc["origin"]["name"] == "component03.fcl"
    stored = tmp_path / "doc.json"
    stored.write_bytes(result.stdout_bytes)
    exported = run("to-fhicl", stored)
    assert exported.exit_code == 0 and exported.stdout_bytes == EXPORTED.read_bytes()


def test_roundtrip_and_stored_record():
    assert run("roundtrip", SAMPLE).stdout_bytes == EXPORTED.read_bytes()
    record = run("to-fhicl", DATA / "fixtures/artdaq_database/stored_document_example.json")
    assert record.exit_code == 0 and record.stdout.startswith("\nservices: {\n")


def test_errors(tmp_path):
    bad = tmp_path / "bad.fcl"
    bad.write_text("a: {\n")
    for args in (("to-json", bad), ("roundtrip", bad), ("to-json", tmp_path / "missing.fcl"), ("to-fhicl", bad)):
        result = run(*args)
        assert result.exit_code == 1, args
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "bad.fcl:1:4:" in run("to-json", bad).stderr


def test_registered_in_rra_cli():
    from rra.cli import main

    result = CliRunner().invoke(main, ["fhicl", "roundtrip", str(SAMPLE)])
    assert result.exit_code == 0, result.stderr
    assert result.stdout_bytes == EXPORTED.read_bytes()
