"""The linter and formatter the ecosystem uses, with the project's settings (pyproject.toml
[tool.ruff]: one line length, double quotes), on every test run."""

import shutil
import subprocess
import sys

import pytest

from conftest import ROOT


def ruff():
    found = shutil.which("ruff", path=str(ROOT / ".venv" / "bin")) or shutil.which("ruff")
    if found:
        return [found]
    try:
        import ruff  # noqa: F401
    except ImportError:
        pytest.skip("ruff is not installed here (it is in the test extra: pip install -e .[test])")
    return [sys.executable, "-m", "ruff"]


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["lint", "format"])
def test_ruff_finds_nothing(command):
    """`ruff check` and `ruff format --check` pass: run `ruff format .` before committing."""
    out = subprocess.run(ruff() + command + ["--no-cache", str(ROOT)], capture_output=True, text=True, cwd=str(ROOT))
    assert out.returncode == 0, out.stdout + out.stderr
