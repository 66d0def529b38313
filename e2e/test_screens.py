"""Every screen in light and dark theme at phone (412x860) and tablet (1024x768) size,
and the dialogs an account's screen and Payments open (a transaction's details, a new
standing order, closing the account, adding a payee) and the sign-in screen's (a forgotten
password's two), photographed into
artifacts/e2e/screens/, and at phone width no control is clipped or
out of reach (every labelled control lies inside the window's width, and each screen's
controls that must be there are there) and every control has a name a screen reader
can say (an icon-only button or a dropdown is otherwise announced as just "button")."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import pytest_asyncio
from playwright.async_api import Browser, Page, expect

from e2e.test_customer_journeys import _deposit
from e2e.ui import (
    ARTIFACTS,
    TIMEOUT_MS,
    Customer,
    Phone,
    account_card,
    fill,
    keep_signed_in,
    open_account,
    register,
    relaunch,
    shows,
    tab,
    tap,
    unlock,
)

PIN = "135790"
SIZES = {"phone": {"width": 412, "height": 860}, "tablet": {"width": 1024, "height": 768}}
SHOTS = ARTIFACTS / "screens"
CONTROLS = (
    "flt-semantics[role=button], flt-semantics[role=tab], flt-semantics[role=checkbox],"
    " flt-semantics[role=radio], flt-semantics[role=slider], input, textarea"
)


@dataclass
class Tour:
    size: str
    width: int
    check_clipping: bool
    clipped: dict[str, list[str]] = field(default_factory=dict)
    missing: dict[str, list[str]] = field(default_factory=dict)
    unnamed: dict[str, list[str]] = field(default_factory=dict)
    shots: list[str] = field(default_factory=list)

    async def visit(self, page: Page, name: str, must_show: list[str]) -> None:
        """Wait for the screen, photograph it, and check its controls."""
        await expect(shows(page, must_show[0])).to_be_visible(timeout=TIMEOUT_MS)
        await page.wait_for_timeout(400)  # let animations settle before the photograph
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{name}-{self.size}.png"
        await page.screenshot(path=str(path))
        self.shots.append(path.name)
        if not self.check_clipping:
            return
        bad = await page.evaluate(
            """([sel, width]) => [...document.querySelectorAll(sel)].map(e => {
                   const r = e.getBoundingClientRect();
                   const label = (e.getAttribute('aria-label') || e.textContent || '').trim();
                   return {label, left: r.left, right: r.right, w: r.width};
               }).filter(c => c.w > 0 && (c.left < -1 || c.right > width + 1))
                 .map(c => `${c.label.slice(0, 40)} [${c.left | 0}..${c.right | 0}]`)""",
            [CONTROLS, self.width],
        )
        if bad:
            self.clipped[name] = bad
        absent = []
        for text in must_show:
            if not await page.evaluate(_PRESENT, [text, self.width]):
                absent.append(text)
        if absent:
            self.missing[name] = absent
        tree = await page.locator("body").aria_snapshot()
        nameless = [line.strip() for line in tree.splitlines() if _NAMELESS.match(line.strip())]
        if nameless:
            self.unnamed[name] = nameless


# A control in the accessibility tree with no name: "- button", "- button [expanded]".
_NAMELESS = re.compile(
    r"^- (button|tab|checkbox|radio|switch|slider|textbox|combobox)( \[.*\])?:?$"
)


# A control or text labelled exactly ``text``, drawn with its whole width in the window.
_PRESENT = """([text, width]) => [...document.querySelectorAll('flt-semantics, flt-semantics *')]
    .filter(e => (e.getAttribute('aria-label') || '').trim() === text
              || [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim() === text))
    .map(e => e.getBoundingClientRect())
    .some(r => r.width > 0 && r.left >= -1 && r.right <= width + 1)"""


async def _theme_on_next_launch(page: Page, theme: str) -> None:
    # The app keeps the theme in SharedPreferences (localStorage on web, JSON-encoded).
    await page.evaluate("t => localStorage.setItem('flutter.bank.theme', JSON.stringify(t))", theme)


async def _dialog(
    tour: Tour, page: Page, name: str, must_show: list[str], leave: str = "Cancel"
) -> None:
    """A dialog just opened, visited as a screen is, then left by ``leave``."""
    await tour.visit(page, name, must_show)
    await tap(page, leave)


async def _password_reset(tour: Tour, page: Page, theme: str) -> None:
    """The two dialogs of a forgotten password, from the sign-in screen: an email without
    an account gets the same answer, so the second opens without sending anything."""
    await tap(page, "Forgot your password?")
    await fill(page, "Your email", "nobody-on-tour@example.com")
    await tour.visit(
        page, f"password-reset-email-{theme}", ["Forgot your password?", "Email me a code"]
    )
    await tap(page, "Email me a code")
    await expect(shows(page, "Set a new password")).to_be_visible(timeout=TIMEOUT_MS)
    await _dialog(
        tour,
        page,
        f"password-reset-code-{theme}",
        ["Set a new password", "Send a new code", "Set password", "Cancel"],
    )


async def _signed_in_screens(tour: Tour, c: Customer, theme: str) -> None:
    page = c.page
    await tab(page, "Home").click()
    await tour.visit(page, f"home-{theme}", ["Hello, Sam Example", "Open account"])
    await account_card(page, "Everyday account").click()
    await tour.visit(
        page,
        f"account-{theme}",
        [
            "Last 30 days",
            "All",
            "Deposits",
            "Withdrawals",
            "Sent",
            "Received",
            "Transfer",
            "Statements",
            "CSV",
            "PDF",
            "Copy",
            "Standing orders",
        ],
    )
    await page.get_by_role("button", name=re.compile(r"\+120\.00 EUR")).first.click()
    await _dialog(tour, page, f"transaction-{theme}", ["Balance after", "Close"], "Close")
    await tap(page, "New standing order")
    await _dialog(
        tour,
        page,
        f"standing-order-form-{theme}",
        ["Set up", "Cancel", "To account number", "Amount each time", "Number of payments"],
    )
    await tap(page, "Close account")
    await _dialog(tour, page, f"close-account-{theme}", ["Close account?", "Cancel"])
    await tab(page, "Payments").click()
    await tour.visit(page, f"payments-{theme}", ["Move money", "Deposit", "Withdraw", "Continue"])
    await tap(page, "Transfer")
    await tour.visit(page, f"payments-transfer-{theme}", ["Payees", "Add payee", "Continue"])
    await tap(page, "Add payee")
    await _dialog(
        tour,
        page,
        f"add-payee-{theme}",
        ["Check and save", "Cancel", "Payee account number", "Name on the account", "Nickname"],
    )
    await tab(page, "Inbox").click()
    await tour.visit(page, f"inbox-{theme}", ["Inbox"])
    await tab(page, "Settings").click()
    await tour.visit(
        page,
        f"settings-{theme}",
        ["Settings", "Light", "Dark", "Use server", "Stay signed in on this device"],
    )


async def take_the_tour(tour: Tour, phone: Phone) -> None:
    page = await phone.ready()
    await _theme_on_next_launch(page, "light")
    page = await relaunch(phone)
    await tour.visit(page, "sign-in-light", ["Welcome back", "Sign in"])
    await _password_reset(tour, page, "light")
    # the password's show/hide toggle says which it does, and does it
    await fill(page, "Password", "not-my-password")
    await page.get_by_role("button", name="Show password", exact=True).click()
    await page.get_by_role("button", name="Hide password", exact=True).click()
    await expect(page.get_by_role("button", name="Show password", exact=True)).to_be_visible()
    await tap(page, "New here? Create an account")
    await tour.visit(page, "register-light", ["Open your account", "Create account"])

    sam = await register(phone, "Sam")
    await open_account(sam)
    await _deposit(sam, "120.00", "120.00 EUR")
    await _signed_in_screens(tour, sam, "light")
    await keep_signed_in(page, PIN)

    sam.page = page = await relaunch(phone)
    await tour.visit(page, "unlock-light", ["Welcome back, Sam", "Unlock"])
    await unlock(page, PIN)
    await tab(page, "Settings").click()
    await tap(page, "Dark")
    await expect(shows(page, "Settings")).to_be_visible()
    await _signed_in_screens(tour, sam, "dark")

    sam.page = page = await relaunch(phone)
    await tour.visit(page, "unlock-dark", ["Welcome back, Sam", "Unlock"])
    await tap(page, "Use my password instead")
    await tour.visit(page, "sign-in-dark", ["Welcome back", "Sign in"])
    await _password_reset(tour, page, "dark")
    await tap(page, "New here? Create an account")
    await tour.visit(page, "register-dark", ["Open your account", "Create account"])
    await _theme_on_next_launch(page, "system")


@pytest_asyncio.fixture(loop_scope="session")
async def device(browser: Browser, web_app: str):  # type: ignore[no-untyped-def]
    made: list[Phone] = []

    async def make(size: str) -> Phone:
        ctx = await browser.new_context(viewport=SIZES[size])
        ctx.set_default_timeout(TIMEOUT_MS)
        p = Phone(f"screens-{size}", ctx, web_app)
        made.append(p)
        return p

    yield make
    for p in made:
        for pg in p.context.pages:
            try:
                await pg.screenshot(path=str(ARTIFACTS / f"LAST-{p.name}.png"))
            except Exception:  # noqa: BLE001 - best effort
                pass
        await p.context.close()


async def test_at_phone_width_every_screen_light_and_dark_has_no_clipped_control(
    device: Callable[[str], Awaitable[Phone]], link: object
) -> None:
    tour = Tour("phone", SIZES["phone"]["width"], check_clipping=True)
    await take_the_tour(tour, await device("phone"))
    print("\nphotographed:", json.dumps(tour.shots))
    assert len(tour.shots) == 30
    assert tour.clipped == {}, f"controls outside the 412 px window: {tour.clipped}"
    assert tour.missing == {}, f"controls missing or out of reach at 412 px: {tour.missing}"
    assert tour.unnamed == {}, f"controls a screen reader cannot name: {tour.unnamed}"


async def test_at_tablet_size_every_screen_light_and_dark(
    device: Callable[[str], Awaitable[Phone]], link: object
) -> None:
    tour = Tour("tablet", SIZES["tablet"]["width"], check_clipping=False)
    await take_the_tour(tour, await device("tablet"))
    assert len(tour.shots) == 30
    assert all(re.match(r"^[a-z-]+-(light|dark)-tablet\.png$", s) for s in tour.shots)
