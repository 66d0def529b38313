"""End-to-end fixtures: the real stack (API, CDC, projections), the Flet web client in
front of it through a cuttable link, and one headless Chromium for the session.

The stack comes from infra/local/pytest_plugin.py (isolated, free ports). To run
against an API that is already up instead (e.g. ``./task up``), set
BANK_E2E_API_URL=http://127.0.0.1:8000.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import pytest_asyncio

from e2e.netlink import BankLink
from e2e.ui import Phone
from infra.local.ports import port_open
from infra.local.pytest_plugin import *  # noqa: F401,F403
from infra.local.pytest_plugin import _ensure, get_stack

CHROMIUM = os.environ.get("BANK_E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 412, "height": 860}
REPO_ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO_ROOT / "artifacts" / "e2e"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: drives the web client in a browser")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


def _real_api_url() -> str:
    external = os.environ.get("BANK_E2E_API_URL")
    if external:
        return external.rstrip("/")
    from infra.local.apps import (
        api_available,
        start_api,
        start_cdc,
        start_notifications,
        start_projections,
    )
    from infra.local.stack import module_exists

    if not api_available():
        pytest.skip("server/api/app.py does not exist yet")
    stack = get_stack()
    _ensure("api", start_api)
    # Balances are read from the projections and pushed live: the whole chain runs.
    if module_exists("cdc"):
        _ensure("cdc", start_cdc)
    if module_exists("server.projections"):
        _ensure("projections", start_projections)
    if module_exists("server.notifications"):
        _ensure("notifications", start_notifications)

    return stack.api_url


@pytest.fixture(scope="session")
def real_api_url() -> str:
    return _real_api_url()


@pytest.fixture(scope="session")
def bank_link(real_api_url: str) -> Iterator[BankLink]:
    """The app's only way to the bank; tests cut it to make the app offline."""
    port = urlsplit(real_api_url).port or 80
    link = BankLink(port).start()
    yield link
    link.close()


@pytest.fixture
def link(bank_link: BankLink) -> Iterator[BankLink]:
    bank_link.up()
    bank_link.lose_next_response("\x00never")
    bank_link.hold_next_response("\x00never", 0)
    bank_link.lost_responses = 0  # counted per test
    bank_link.held_responses = 0
    yield bank_link
    bank_link.up()


@pytest.fixture(scope="session")
def web_app(bank_link: BankLink, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`python -m client --web` on a free port, talking to the bank through the link."""
    from infra.local.ports import StackPorts

    port = StackPorts.free().client
    log = tmp_path_factory.mktemp("e2e-client") / "client.log"
    env = dict(os.environ)
    env.update(
        PYTHONPATH=str(REPO_ROOT),
        PYTHONUNBUFFERED="1",
        FLET_WEB_NO_CDN="1",
        BANK_CLIENT_LOG_LEVEL="INFO",
    )
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "client",
                "--web",
                "--port",
                str(port),
                "--api-url",
                bank_link.url,
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while not port_open(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"the web client did not start; see {log}:\n{log.read_text()[-3000:]}"
                )
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        artifacts = REPO_ROOT / "artifacts" / "e2e"
        artifacts.mkdir(parents=True, exist_ok=True)
        shutil.copy(log, artifacts / "client.log")


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        await b.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    report = yield
    if report.when == "call":
        item.stash[_FAILED] = report.failed
    return report


_FAILED = pytest.StashKey[bool]()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def phones(browser, web_app: str) -> AsyncIterator[list[Phone]]:  # type: ignore[no-untyped-def]
    """Two phones (browser contexts) for the whole session. Starting the Flutter engine
    in a tab is the slow part, so a tab stays open from test to test and the next
    customer signs in after the previous one signed out."""
    made = []
    for name in ("phone-a", "phone-b"):
        ctx = await browser.new_context(viewport=PHONE)
        ctx.set_default_timeout(20_000)
        made.append(Phone(name, ctx, web_app))
    yield made
    for p in made:
        await p.context.close()


@pytest_asyncio.fixture(loop_scope="session")
async def phone(
    phones: list[Phone], request: pytest.FixtureRequest
) -> AsyncIterator[Callable[[], Awaitable[Phone]]]:
    """Hand out the phones, one per customer in the test, each showing the sign-in
    screen. After a failed test the phone's tabs are photographed and closed."""
    given: list[Phone] = []

    async def take() -> Phone:
        if len(given) == len(phones):
            raise RuntimeError(f"a test gets at most {len(phones)} phones")
        p = phones[len(given)]
        given.append(p)
        await p.ready()
        return p

    yield take
    failed = request.node.stash.get(_FAILED, False)
    for i, p in enumerate(given):
        await p.context.set_offline(False)
        if failed:
            for j, page in enumerate(p.context.pages):
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                try:
                    await page.screenshot(
                        path=str(ARTIFACTS / f"FAILED-{request.node.name}-{i}{j}.png")
                    )
                except Exception:  # noqa: BLE001 - a screenshot must not hide the failure
                    pass
            await p.discard()
