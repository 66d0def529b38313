"""The interpreter .venv is made from (infra/tools/venv-python.sh, docs/adr/0337):
$PYTHON when set, else the distribution's optimised /usr/bin/python3.11, else the
first python3.11 on PATH."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.infra.conftest import INFRA, REPO

VENV_PYTHON = INFRA / "tools" / "venv-python.sh"
DISTRIBUTION_PYTHON = Path("/usr/bin/python3.11")


def _named(python: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "PYTHON"}
    if python is not None:
        env["PYTHON"] = python
    result = subprocess.run(
        ["sh", str(VENV_PYTHON)], capture_output=True, text=True, env=env, timeout=10
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_python_set_by_the_developer_is_always_taken() -> None:
    assert _named("/opt/somewhere/python3.11") == "/opt/somewhere/python3.11"


def test_the_distributions_build_comes_before_path() -> None:
    expected = str(DISTRIBUTION_PYTHON) if DISTRIBUTION_PYTHON.exists() else "python3.11"
    assert _named(None) == expected


def test_the_venv_is_made_from_the_named_interpreter() -> None:
    """./task made the .venv this suite runs in from the interpreter the rule names."""
    cfg = REPO / ".venv" / "pyvenv.cfg"
    if not cfg.exists():
        pytest.skip("the suite runs outside ./task's .venv")
    made_from = next(
        line.split("=", 1)[1].strip()
        for line in cfg.read_text().splitlines()
        if line.startswith("executable")
    )
    named = _named(os.environ.get("PYTHON"))
    resolved = subprocess.run(  # asked of it: a launcher (pyenv's shim) is not the executable
        [named, "-c", "import os, sys; print(os.path.realpath(sys.executable))"],
        capture_output=True,
        text=True,
        timeout=10,
    ).stdout.strip()
    assert os.path.realpath(made_from) == resolved
