#!/bin/sh
# Print the Python 3.11 that .venv is made from (./task and .ci/run both ask here).
#   1. $PYTHON, when set: the developer's choice, always.
#   2. The distribution's own /usr/bin/python3.11 (Debian, Ubuntu): built with PGO and
#      LTO and linked statically, as the python:3.11-slim images we deploy are. A plain
#      source build without --enable-optimizations (pyenv's default, first on PATH on
#      the dev machine) spent ~25 % more CPU per deposit in each Python process
#      (docs/adr/0337-an-optimised-interpreter.md).
#   3. Else the first python3.11 on PATH.
set -eu

if [ -n "${PYTHON:-}" ]; then
    echo "$PYTHON"
elif [ -x /usr/bin/python3.11 ]; then
    echo /usr/bin/python3.11
else
    echo python3.11
fi
