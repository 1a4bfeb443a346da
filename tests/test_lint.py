"""The linter the ecosystem uses, with the project's settings (pyproject.toml [tool.ruff]), on every test run."""
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT


def test_ruff_finds_nothing():
    ruff = shutil.which("ruff", path=str(ROOT / ".venv" / "bin")) or shutil.which("ruff")
    if ruff is None:
        try:
            import ruff  # noqa: F401
        except ImportError:
            pytest.skip("ruff is not installed here (it is in the test extra: pip install -e .[test])")
        ruff = [sys.executable, "-m", "ruff"]
    cmd = (ruff if isinstance(ruff, list) else [ruff]) + ["check", "--no-cache", str(ROOT)]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=str(ROOT))
    assert out.returncode == 0, out.stdout + out.stderr
