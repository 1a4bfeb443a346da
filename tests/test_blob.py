"""The UconDB blob: byte-for-byte the legacy format, compared without its packing stamp."""

import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from rra.blob import TAIL, order, pack, parse_stamp, same_content, stamp, unpack

GOLDEN = sorted(
    (Path(__file__).resolve().parent / "data/golden/artdaqdb/legacy_pipeline/blobs").glob("*.blob")
)  # copied from ../shared: data/README.md
WHEN = datetime(2024, 11, 2, 9, 5, tzinfo=timezone.utc)
FILES = {
    "boot.fcl": "\nboot: 1\n",
    "EventBuilder1.fcl": "eb",
    "component01.fcl": "c1",
    "hashes.fcl": "h",
    "RunHistory2.fcl": "stop",
    "metadata.fcl": "m",
    "schema.fcl": "s",
    "DataLogger1.fcl": "dl",
}


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.name)
def test_golden_blobs_round_trip(path):
    assert len(GOLDEN) == 6  # the six runs of golden/fhiclize
    blob = path.read_bytes()
    run, packed_on, files = unpack(blob)
    assert run == int(path.stem) and packed_on == "Nov 22 13:43"
    assert list(files) == order(files) and "schema.fcl" in files
    assert pack(run, files, parse_stamp(packed_on, 2024)) == blob
    assert pack(run, files, packed_on) == blob


def test_layout():
    blob = pack(12, {"b.fcl": "B", "boot.fcl": "\nboot"}, WHEN).decode()
    assert blob == (
        "Start of Record\nRun Number: 12\nPacked on Nov 02 09:05 UTC\n"
        "\n#####\nb.fcl:\n#####\nB"
        "\n#####\nboot.fcl:\n#####\n\nboot"
        "\nEnd of Record\nRun Number: 12\nPacked on Nov 02 09:05 UTC\n"
    )
    assert unpack(blob.encode()) == (12, "Nov 02 09:05", {"b.fcl": "B", "boot.fcl": "\nboot"})


def test_order_is_case_insensitive_then_fixed_tail():
    names = list(FILES) + ["ranks.fcl", "setup.fcl", "RunHistory.fcl", "zeta.fcl", "Alpha.fcl"]
    assert order(names) == [
        "Alpha.fcl",
        "component01.fcl",
        "DataLogger1.fcl",
        "EventBuilder1.fcl",
        "hashes.fcl",
        "schema.fcl",
        "zeta.fcl",
        "boot.fcl",
        "setup.fcl",
        "metadata.fcl",
        "ranks.fcl",
        "RunHistory.fcl",
        "RunHistory2.fcl",
    ]
    assert order(TAIL[::-1]) == list(TAIL)


def test_stamp_is_utc_and_c_locale():
    assert stamp(WHEN) == "Nov 02 09:05"
    assert stamp(datetime(2024, 1, 1, 1, 30, tzinfo=timezone(timedelta(hours=3)))) == "Dec 31 22:30"
    assert stamp(datetime(2024, 5, 6, 7, 8)) == "May 06 07:08"  # naive means UTC
    assert parse_stamp("Dec 31 22:30", 2023) == datetime(2023, 12, 31, 22, 30, tzinfo=timezone.utc)
    with pytest.raises(ValueError):
        parse_stamp("Foo 31 22:30")


def test_stamp_ignores_the_process_locale(tmp_path):
    """Under a German LC_TIME (compiled here, so it is there on any machine), still 'Dec'."""
    if not shutil.which("localedef") or not Path("/usr/share/i18n/locales/de_DE").exists():
        pytest.skip("cannot compile a de_DE locale here (localedef or its sources missing)")
    subprocess.run(
        ["localedef", "-i", "de_DE", "-f", "UTF-8", str(tmp_path / "de_DE.UTF-8")], check=True, capture_output=True
    )
    code = (
        "import locale, datetime; from rra.blob import stamp; "
        "locale.setlocale(locale.LC_TIME, 'de_DE.UTF-8'); "
        "print(datetime.datetime(2024, 12, 1).strftime('%b'), stamp(datetime.datetime(2024, 12, 1)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ, LOCPATH=str(tmp_path)),
    )
    assert out.stdout.split(" ", 1) == ["Dez", "Dec 01 00:00\n"]  # the locale is active; the stamp is not


def test_same_content():
    a = pack(5, FILES, WHEN)
    assert same_content(a, pack(5, FILES, WHEN + timedelta(days=40))) == (True, [])
    assert same_content(a, pack(5, {**FILES, "hashes.fcl": "other"}, WHEN)) == (True, [])
    assert same_content(a, pack(5, {**FILES, "metadata.fcl": "m2", "boot.fcl": "b2"}, WHEN)) == (
        False,
        ["boot.fcl", "metadata.fcl"],
    )
    less = {k: v for k, v in FILES.items() if k != "schema.fcl"}
    assert same_content(a, pack(5, less, WHEN)) == (False, ["schema.fcl"])
    assert same_content(a, pack(6, FILES, WHEN)) == (False, ["Run Number"])


def test_not_a_blob():
    for bad in (b"", b"hello", b"Start of Record\nRun Number: 1\nPacked on Nov 02 09:05 UTC\n"):
        with pytest.raises(ValueError):
            unpack(bad)
    mismatch = pack(1, FILES, WHEN).replace(b"End of Record\nRun Number: 1", b"End of Record\nRun Number: 2")
    with pytest.raises(ValueError, match="footer"):
        unpack(mismatch)


def test_non_utf8_bytes_survive():
    files = {"a.fcl": b"caf\xe9".decode("utf-8", "surrogateescape")}
    blob = pack(1, files, WHEN)
    assert b"caf\xe9" in blob and unpack(blob)[2] == files
