"""How a customer uses the app, in Playwright terms (Flutter web semantics tree).

Flutter draws on a canvas; with semantics enabled every labelled control becomes
an ``flt-semantics`` element with a role and a name, which is what these
helpers find. They act like a person: wait for what they see, then tap.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
from playwright.async_api import BrowserContext, Locator, Page, expect
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

REPO_ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO_ROOT / "artifacts" / "e2e"
PASSWORD = "correct horse battery staple"
UUID_RE = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
# How the app shows an account number (the internal UUID is never shown).
ACCOUNT_NUMBER_RE = r"XN\d{2} NWBK \d{4} \d{4} \d{2}"
TIMEOUT_MS = 20_000


def button(page: Page, name: str) -> Locator:
    """A button by its exact text (role selectors miss buttons inside Flutter dialogs)."""
    return page.locator("flt-semantics[role=button]").filter(
        has_text=re.compile(rf"^\s*{re.escape(name)}\s*$")
    )


def account_card(page: Page, name: str) -> Locator:
    """An account on Home (name, number and balance in one tappable tile)."""
    return page.locator("flt-semantics[role=button]").filter(has_text=name).first


def tab(page: Page, name: str) -> Locator:
    """A destination of the navigation bar (phone) or rail (wide window)."""
    rail = page.locator("flt-semantics[role=button]").filter(
        has_text=re.compile(rf"^\s*{re.escape(name)}\s*Tab \d+ of \d+\s*$")
    )
    # a badge adds to the name ("Inbox, 2 unread 2 Inbox")
    named = re.compile(rf"^{re.escape(name)}(,|$|\s)")
    return page.get_by_role("tab", name=named).or_(rail).first


def field(page: Page, label: str) -> Locator:
    return page.get_by_role("textbox", name=label, exact=True)


def shows(page: Page, text: str | re.Pattern[str]) -> Locator:
    return page.get_by_text(text).first


async def tap(page: Page, name: str) -> None:
    target = button(page, name).first
    await target.wait_for(timeout=TIMEOUT_MS)
    await target.click()


async def fill(page: Page, label: str, value: str) -> None:
    """Type into a field and make sure it took: Flutter rebuilds its DOM inputs as the
    focus moves, and a value set in that moment is dropped."""
    target = field(page, label)
    await target.wait_for(timeout=TIMEOUT_MS)
    for _ in range(5):
        try:
            await target.click(timeout=5_000)
            await target.fill(value, timeout=5_000)
            await page.wait_for_timeout(250)
            if await target.input_value(timeout=5_000) == value:
                return
        except PlaywrightTimeoutError:
            continue
    raise AssertionError(f"could not type into {label!r}")


async def shot(page: Page, test: str, step: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{test}-{step}.png"
    await page.screenshot(path=str(path))
    return path


async def open_app(context: BrowserContext, url: str) -> Page:
    page = await context.new_page()
    await page.goto(url, timeout=90_000)
    placeholder = page.locator("flt-semantics-placeholder")
    rendered = page.locator("flt-semantics[role=button]").first
    deadline = time.monotonic() + 90
    while True:
        # Turn Flutter's semantics tree on; a click before the first frame is lost, so
        # repeat until labelled controls appear.
        if await placeholder.count():
            await placeholder.dispatch_event("click")
        try:
            await rendered.wait_for(state="attached", timeout=3_000)
            return page
        except PlaywrightTimeoutError:
            if time.monotonic() > deadline:
                raise


class Phone:
    """A browser context with one open tab of the app."""

    def __init__(self, name: str, context: BrowserContext, url: str) -> None:
        self.name = name
        self.context = context
        self.url = url
        self.page: Page | None = None

    async def ready(self) -> Page:
        """The tab, showing the sign-in screen (the previous customer signs out)."""
        if self.page is None or self.page.is_closed():
            self.page = await open_app(self.context, self.url)
        elif await tab(self.page, "Settings").count():
            await tab(self.page, "Settings").click()
            await tap(self.page, "Sign out")
        if await button(self.page, "Use my password instead").count():
            await tap(self.page, "Use my password instead")  # a session kept by a test
        await (
            button(self.page, "Sign in")
            .or_(button(self.page, "Create account"))
            .first.wait_for(timeout=TIMEOUT_MS)
        )
        return self.page

    async def discard(self) -> None:
        for page in self.context.pages:
            await page.close()
        self.page = None


@dataclass
class Customer:
    phone: Phone
    page: Page
    email: str
    password: str = PASSWORD
    account_number: str = ""  # as the app shows it, in groups of four
    account_id: str = ""  # the bank's internal id, looked up through the API by tests

    @property
    def context(self) -> BrowserContext:
        return self.phone.context


async def register(phone: Phone, name: str) -> Customer:
    """Sign up on the sign-in screen; ends on Home."""
    page = await phone.ready()
    email = f"{name.lower()}.{uuid.uuid4().hex[:10]}@example.com"
    if not await field(page, "Full name").count():
        await tap(page, "New here? Create an account")
    await field(page, "Full name").wait_for(timeout=TIMEOUT_MS)
    await fill(page, "Email", email)
    await fill(page, "Password", PASSWORD)
    await fill(page, "Full name", f"{name} Example")
    await tap(page, "Create account")
    await tab(page, "Home").wait_for(timeout=TIMEOUT_MS)
    return Customer(phone, page, email)


async def open_account(c: Customer, name: str = "Everyday account") -> str:
    """Open an account from Home, go to its screen, and return its number (as shown)."""
    page = c.page
    await tap(page, "Open account")
    await fill(page, "Account name", name)
    await tap(page, "Open")
    await expect(shows(page, "0.00 EUR")).to_be_visible(timeout=TIMEOUT_MS)
    await expect(field(page, "Account name")).to_have_count(0, timeout=TIMEOUT_MS)
    number = shows(page, re.compile(rf"Account number {ACCOUNT_NUMBER_RE}"))
    deadline = time.monotonic() + 3 * TIMEOUT_MS / 1000
    card = account_card(page, name)
    while not await number.count():  # a tap during the dialog's closing animation is lost
        if time.monotonic() > deadline:
            raise AssertionError(f"the screen of {name!r} did not open")
        if await card.count():
            try:
                await card.click(timeout=5_000)
            except PlaywrightTimeoutError:
                pass
        await page.wait_for_timeout(1_000)
    c.account_number = re.search(ACCOUNT_NUMBER_RE, await number.inner_text()).group(0)  # type: ignore[union-attr]
    return c.account_number


async def bank_session(api_url: str, c: Customer) -> tuple[dict[str, str], str]:
    """Sign in to the bank's API as the customer (not through the app): the auth
    header, and the internal id of the account the app showed (found by its number)."""
    async with httpx.AsyncClient(base_url=f"{api_url}/api/v1", timeout=10) as http:
        tok = await http.post(
            "/auth/token",
            data={"grant_type": "password", "username": c.email, "password": c.password},
        )
        tok.raise_for_status()
        auth = {"Authorization": f"Bearer {tok.json()['access_token']}"}
        if not c.account_id and c.account_number:
            listed = (await http.get("/accounts", headers=auth)).json()["items"]
            c.account_id = next(
                a["id"] for a in listed if a.get("account_number") == c.account_number
            )
        return auth, c.account_id


async def relaunch(phone: Phone) -> Page:
    """Close the app and start it again on the same device (the browser context keeps
    its storage, as a phone keeps its preferences and keystore)."""
    if phone.page is not None and not phone.page.is_closed():
        await phone.page.close()
    phone.page = await open_app(phone.context, phone.url)
    return phone.page


# Where the web app keeps a session on the device (client/unlock.py's StoredSession, as
# SharedPreferences keeps it in the browser's storage).
_KEPT_SESSION = "localStorage.getItem('flutter.bank.session.v1')"


async def kept_session(page: Page) -> dict | None:
    """What the app keeps of a session on this device; None when it keeps none."""
    raw = await page.evaluate(_KEPT_SESSION)
    text = json.loads(raw) if raw else ""
    return json.loads(text) if text else None


KEPT_WITH_PIN = "On: the app opens with your PIN."
PIN_REFUSED = "Use 4 to 8 digits."


async def keep_signed_in(page: Page, pin: str) -> None:
    """Settings > Stay signed in on this device, with a PIN.

    The section first reads what this device keeps (its status line appears when it
    has). Under load, the app was seen to receive the click before the typed PIN: the
    field showed the digits and the app answered "Use 4 to 8 digits." for an empty
    one (e2e/test_staying_signed_in.py, 1 run in 7). The PIN is then typed again once,
    as a person would; the outcome asserted is the same."""
    await tab(page, "Settings").click()
    await expect(shows(page, re.compile(r"^(Off|On): "))).to_be_visible(timeout=TIMEOUT_MS)
    kept, refused = shows(page, KEPT_WITH_PIN), shows(page, PIN_REFUSED)
    await fill(page, "New PIN", pin)
    await tap(page, "Keep me signed in")
    await expect(kept.or_(refused)).to_be_visible(timeout=TIMEOUT_MS)
    if await kept.is_visible():
        return
    await fill(page, "New PIN", pin)  # refused: the app had the click before the PIN
    await tap(page, "Keep me signed in")
    await expect(kept).to_be_visible(timeout=TIMEOUT_MS)


async def unlock(page: Page, pin: str) -> None:
    await fill(page, "PIN", pin)
    await tap(page, "Unlock")


async def move_money(page: Page, verb: str, amount: str, to: str | None = None) -> None:
    """From the account screen: Deposit / Withdraw / Transfer, fill, continue, confirm."""
    await tap(page, verb)
    await fill(page, "Amount", amount)
    if to is not None:
        await fill(page, "Recipient account number", to)
    await tap(page, "Continue")
    await tap(page, "Confirm")


async def seen_at(page: Page, text: str, timeout_s: float) -> float:
    """time.monotonic() when ``text`` appeared on the page (checked every 20 ms in the
    page itself, so the measurement is not coarser than the UI)."""
    await page.wait_for_function(
        "t => (document.querySelector('flt-semantics-host')?.textContent || '').includes(t)",
        arg=text,
        polling=20,
        timeout=timeout_s * 1000,
    )
    return time.monotonic()
