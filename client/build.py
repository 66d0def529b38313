"""``python -m client.build apk|ipa|macos|linux|windows``: package the customer app with
``flet build`` (./task build-apk, build-ipa, build-desktop).

It stages the app in build/flet-app/: client/, shared/, a main.py entry point and a
pyproject.toml whose dependencies are the repo's ``client`` extra (flet build takes
[project].dependencies as the app's packages, so the servers' libraries never reach a
phone) and whose [tool.flet] is the repo's. Then it runs ``flet build``.

``flet build`` needs the Flutter SDK (and the Android SDK / Xcode for mobile), which
it would otherwise try to download; where ``flutter`` is not on PATH this says so and
exits with status 3 instead of starting a build that cannot finish.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAGE = ROOT / "build" / "flet-app"
TARGETS = {"apk", "aab", "ipa", "macos", "linux", "windows", "web"}
# Runners of `python -m client` on a development machine; a built app has its own.
NOT_BUNDLED = {"flet-web", "flet-desktop"}
ENTRY = '''"""Entry point of the packaged app (made by client/build.py)."""

from client.__main__ import main

main([])
'''


def _toml_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return str(v)


def _tables(prefix: str, data: dict[str, object]) -> list[str]:
    lines = [f"[{prefix}]"]
    nested = []
    for k, v in data.items():
        key = k if k.replace("_", "").isalnum() else _toml_value(k)
        if isinstance(v, dict):
            nested.append((f"{prefix}.{key}", v))
        else:
            lines.append(f"{key} = {_toml_value(v)}")
    for name, sub in nested:
        lines += ["", *_tables(name, sub)]
    return lines


def stage() -> Path:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    project = data["project"]
    deps = [
        d for d in project["optional-dependencies"]["client"] if d.split("==")[0] not in NOT_BUNDLED
    ]
    if STAGE.exists():
        shutil.rmtree(STAGE)
    STAGE.mkdir(parents=True)
    for pkg in ("client", "shared"):
        shutil.copytree(ROOT / pkg, STAGE / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    (STAGE / "main.py").write_text(ENTRY)
    head = [
        "[project]",
        'name = "northwind-bank"',
        f"version = {_toml_value(project['version'])}",
        'description = "Northwind Bank: the customer app"',
        f"dependencies = {_toml_value(deps)}",
        "",
    ]
    (STAGE / "pyproject.toml").write_text(
        "\n".join(head + _tables("tool.flet", data["tool"]["flet"])) + "\n"
    )
    return STAGE


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in TARGETS:
        print(__doc__, file=sys.stderr)
        return 2
    target = argv[0]
    where = stage()
    print(f"staged the app in {where}")
    flutter = shutil.which("flutter")
    if flutter is None:
        print(
            f"flet build {target} needs the Flutter SDK (`flutter` on PATH), which is not "
            "installed here (this machine cannot download it). Install Flutter "
            f"(see `python -c 'import flet.version; print(flet.version.flutter_version)'` for "
            f"the version), then run: cd {where} && flet build {target}",
            file=sys.stderr,
        )
        return 3
    flet = shutil.which("flet")
    if flet is None:
        print(
            "`flet` (the flet-cli package) is not installed: pip install flet-cli", file=sys.stderr
        )
        return 3
    return subprocess.call([flet, "build", target, "--yes", *argv[1:]], cwd=where)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
