"""The Flet desktop client under a virtual display (Xvfb): one journey, a screenshot.

flet-desktop does not ship its Flutter runner: ``flet_desktop.ensure_client_cached``
downloads it from GitHub Releases on first use (into ~/.flet/client/), which this
machine cannot reach (only PyPI, Debian and npm). The only runner on PyPI,
flet-desktop-light 0.82.2, speaks an older protocol: under Xvfb against this app (flet
1.0.5) it was seen to stay on "Working..." for over two minutes. So the test runs where
a runner for this flet version is available (in the flet cache, or given by
FLET_VIEW_PATH), and otherwise says why it cannot.

The journey: a customer (registered through the API) signs in with the keyboard
(xdotool types into the window); the bank must then list a new session for them, and
the window is photographed into artifacts/e2e/desktop-signed-in.png.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from e2e.ui import ARTIFACTS, PASSWORD

REPO_ROOT = Path(__file__).resolve().parent.parent
DISPLAY = ":93"


def desktop_runner() -> tuple[str | None, str]:
    """(FLET_VIEW_PATH to use, or None with the reason there is none)."""
    import flet_desktop

    version = flet_desktop.version.version
    given = os.environ.get("FLET_VIEW_PATH")
    if given and Path(given, "flet").is_file():
        return given, ""
    cache = Path.home() / ".flet" / "client"
    for d in sorted(cache.glob(f"flet-desktop-*-{version}*")) if cache.exists() else []:
        if (d / "flet" / "flet").is_file():
            return str(d / "flet"), ""
    return None, (
        f"no Flet {version} desktop runner here: flet-desktop downloads it from GitHub "
        "Releases on first use, which this machine cannot reach, and the one on PyPI "
        "(flet-desktop-light 0.82.2) speaks an older protocol (seen stuck on 'Working...'). "
        "Put a runner in ~/.flet/client/ or set FLET_VIEW_PATH to run this test."
    )


def _screenshot(path: Path) -> None:
    from PIL import ImageGrab

    ImageGrab.grab(xdisplay=DISPLAY).save(path)


async def test_desktop_client_signs_in_under_xvfb(real_api_url: str) -> None:
    if sys.platform != "linux":
        pytest.skip("the desktop test runs under Xvfb, on Linux")
    missing = [t for t in ("Xvfb", "xdotool") if shutil.which(t) is None]
    if missing:
        pytest.skip(f"{' and '.join(missing)} missing (apt-get install -y xvfb xdotool)")
    view, why = desktop_runner()
    if view is None:
        pytest.skip(why)

    email = f"dora.{uuid.uuid4().hex[:10]}@example.com"
    async with httpx.AsyncClient(base_url=f"{real_api_url}/api/v1", timeout=10) as http:
        r = await http.post(
            "/auth/register",
            json={"email": email, "password": PASSWORD, "full_name": "Dora Desktop"},
        )
        assert r.status_code == 201, r.text
    xvfb = subprocess.Popen(["Xvfb", DISPLAY, "-screen", "0", "1024x768x24", "-nolisten", "tcp"])
    env = {**os.environ, "DISPLAY": DISPLAY, "FLET_VIEW_PATH": view, "PYTHONPATH": str(REPO_ROOT)}
    app = subprocess.Popen(
        [sys.executable, "-m", "client", "--api-url", real_api_url], cwd=REPO_ROOT, env=env
    )
    try:
        await asyncio.sleep(20)  # the window draws the sign-in screen; the email field has focus
        for keys in (["type", email], ["key", "Tab"], ["type", PASSWORD], ["key", "Return"]):
            subprocess.run(["xdotool", *keys], env=env, check=True)
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient(base_url=f"{real_api_url}/api/v1", timeout=10) as http:
            tok = await http.post(
                "/auth/token",
                data={"grant_type": "password", "username": email, "password": PASSWORD},
            )
            auth = {"Authorization": f"Bearer {tok.json()['access_token']}"}
            while True:  # the test's own session is "current"; the app's is the other one
                sessions = (await http.get("/auth/sessions", headers=auth)).json()["items"]
                if any(not s["current"] for s in sessions):
                    break
                assert time.monotonic() < deadline, "the desktop app never signed in"
                await asyncio.sleep(2)
        await asyncio.sleep(3)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        _screenshot(ARTIFACTS / "desktop-signed-in.png")
    finally:
        app.terminate()
        xvfb.terminate()
        for p in (app, xvfb):
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
