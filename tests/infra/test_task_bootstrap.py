"""How ./task bootstraps .venv (docs/adr/0337): it keeps a .venv that is up to date, keeps
it when $PYTHON cannot run, and makes it again when it was made from another interpreter
or pyproject.toml changed.

./task and infra/tools/venv-python.sh are copied into a temporary directory and run there
with stand-in interpreters: shell scripts that answer what ./task asks of a Python
(``-c`` for the pyproject hash and the real executable, ``-m venv``, ``-m pip``) and log
what they were asked to do. Nothing is installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.infra.conftest import REPO

# A stand-in for python3.11. Its real executable is the script itself (readlink -f $0), as
# os.path.realpath(sys.executable) is for a Python; `-m venv DIR` writes the pyvenv.cfg
# line ./task reads and copies the script in as DIR/bin/python.
STAND_IN = """#!/bin/sh
self=$(readlink -f "$0")
case "$1" in
  -c)
    case "$2" in
      *hashlib*) exec {python} -c "$2" ;;
      *realpath*) echo "$self"; exit 0 ;;
    esac ;;
  -m)
    case "$2" in
      venv)
        mkdir -p "$3/bin"
        printf 'home = /nowhere\\nexecutable = %s\\n' "$self" > "$3/pyvenv.cfg"
        cp "$self" "$3/bin/python"
        cp {task_stub} "$3/bin/task"
        exit 0 ;;
      pip) echo "pip $*" >> {log}; exit 0 ;;
    esac ;;
esac
echo "stand-in python: unexpected $*" >&2
exit 2
"""

# A stand-in for the go-task binary that pip would have put into .venv/bin.
TASK_STUB = """#!/bin/sh
echo "go-task ran: $*"
"""

# pyenv's shim: a launcher, not the executable.
SHIM = """#!/bin/sh
exec {target} "$@"
"""


@dataclass
class Checkout:
    root: Path
    pythons: Path  # the stand-in interpreters
    log: Path

    @property
    def venv(self) -> Path:
        return self.root / ".venv"

    def interpreter(self, name: str) -> Path:
        return self.pythons / name

    def run(self, python: Path | str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PYTHON": str(python)}
        return subprocess.run(
            ["sh", str(self.root / "task"), "--list"],
            capture_output=True,
            text=True,
            env=env,
            timeout=30,
        )

    def made_from(self) -> str:
        for line in (self.venv / "pyvenv.cfg").read_text().splitlines():
            if line.startswith("executable = "):
                return line.split(" = ", 1)[1]
        raise AssertionError("pyvenv.cfg names no executable")

    def asked(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


def _executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


@pytest.fixture
def checkout(tmp_path: Path) -> Checkout:
    tmp_path = tmp_path.resolve()  # ./task compares resolved paths
    root = tmp_path / "repo"
    (root / "infra" / "tools").mkdir(parents=True)
    shutil.copy2(REPO / "task", root / "task")
    shutil.copy2(REPO / "infra" / "tools" / "venv-python.sh", root / "infra" / "tools")
    (root / "pyproject.toml").write_text('[project]\nname = "stand-in"\n')
    pythons = tmp_path / "pythons"
    pythons.mkdir()
    log = tmp_path / "asked.log"
    stub = _executable(tmp_path / "task-stub", TASK_STUB)
    stand_in = STAND_IN.format(python=sys.executable, log=log, task_stub=stub)
    for name in ("python-a", "python-b"):
        _executable(pythons / name, stand_in)
    _executable(pythons / "shim", SHIM.format(target=pythons / "python-a"))
    return Checkout(root, pythons, log)


def test_the_first_run_makes_the_venv_and_installs_the_project(checkout: Checkout) -> None:
    python = checkout.interpreter("python-a")
    result = checkout.run(python)
    assert result.returncode == 0, result.stderr
    assert "go-task ran: --exit-code" in result.stdout
    assert f"creating .venv with {python}" in result.stderr
    assert checkout.made_from() == str(python)
    assert any(
        line.startswith("pip -m pip install") and "-e .[dev]" in line for line in checkout.asked()
    )


def test_an_up_to_date_venv_is_used_as_it_is(checkout: Checkout) -> None:
    python = checkout.interpreter("python-a")
    assert checkout.run(python).returncode == 0
    before = checkout.asked()
    result = checkout.run(python)
    assert result.returncode == 0, result.stderr
    assert "go-task ran" in result.stdout
    assert "[task]" not in result.stderr  # neither made nor installed
    assert checkout.asked() == before


def test_a_launcher_of_the_same_interpreter_keeps_the_venv(checkout: Checkout) -> None:
    """A pyenv shim is not the executable it runs: ./task asks it, and keeps .venv."""
    assert checkout.run(checkout.interpreter("python-a")).returncode == 0
    before = checkout.asked()
    result = checkout.run(checkout.interpreter("shim"))
    assert result.returncode == 0, result.stderr
    assert "[task]" not in result.stderr
    assert checkout.asked() == before


def test_a_python_that_cannot_run_keeps_the_venv(checkout: Checkout) -> None:
    """A mistyped PYTHON must not remove a working .venv (it did before 0abb808)."""
    assert checkout.run(checkout.interpreter("python-a")).returncode == 0
    kept = checkout.venv / "kept-file"
    kept.write_text("still here")
    result = checkout.run(checkout.root.parent / "no-such-python3.11")
    assert result.returncode == 0, result.stderr
    assert "go-task ran" in result.stdout
    assert kept.exists()
    assert checkout.made_from() == str(checkout.interpreter("python-a"))


def test_a_venv_made_from_another_interpreter_is_made_again(checkout: Checkout) -> None:
    a, b = checkout.interpreter("python-a"), checkout.interpreter("python-b")
    assert checkout.run(a).returncode == 0
    stale = checkout.venv / "stale-file"
    stale.write_text("from python-a")
    result = checkout.run(b)
    assert result.returncode == 0, result.stderr
    assert f".venv was made from {a}; making it again from {b}" in result.stderr
    assert not stale.exists()
    assert checkout.made_from() == str(b)
    assert "go-task ran" in result.stdout


def test_a_changed_pyproject_installs_again_in_the_same_venv(checkout: Checkout) -> None:
    python = checkout.interpreter("python-a")
    assert checkout.run(python).returncode == 0
    kept = checkout.venv / "kept-file"
    kept.write_text("still here")
    pyproject = checkout.root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + 'version = "2"\n')
    installs = sum("-e .[dev]" in line for line in checkout.asked())
    result = checkout.run(python)
    assert result.returncode == 0, result.stderr
    assert "installing the project into .venv" in result.stderr
    assert "creating .venv" not in result.stderr
    assert kept.exists()
    assert sum("-e .[dev]" in line for line in checkout.asked()) == installs + 1


def test_a_missing_interpreter_and_no_venv_says_what_to_install(checkout: Checkout) -> None:
    result = checkout.run(checkout.root.parent / "no-such-python3.11")
    assert result.returncode == 1
    assert "not found; install Python 3.11 (or set PYTHON=" in result.stderr
