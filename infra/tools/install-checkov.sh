#!/bin/sh
# Create (once) .venv-tools/checkov with the pinned checkov of checkov-requirements.txt.
# Re-created only when that file changes. ~60 s and ~300 MB the first time.
# Usage: infra/tools/install-checkov.sh   (the interpreter: infra/tools/venv-python.sh)
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
REQ="$ROOT/infra/tools/checkov-requirements.txt"
VENV="$ROOT/.venv-tools/checkov"
PY=$("$ROOT/infra/tools/venv-python.sh")
STAMP="$VENV/.requirements.sha256"
WANT=$(sha256sum "$REQ" | cut -d' ' -f1)

ready() { [ -x "$VENV/bin/checkov" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$WANT" ]; }

ready && exit 0
mkdir -p "$ROOT/.venv-tools"
if command -v flock >/dev/null 2>&1; then
    exec 9>"$ROOT/.venv-tools/.checkov.lock"
    flock 9
fi
ready && exit 0
echo "[infra] installing checkov into $VENV" >&2
rm -rf "$VENV"
"$PY" -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQ"
echo "$WANT" > "$STAMP"
