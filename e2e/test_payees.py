"""Account numbers, payees and statements in the app (issue #17), in a real browser
against the real stack: the number people read out is shown (never the internal id),
a payee is added with the bank's confirmation of payee said in words, and paying the
payee moves the money (checked in the app and in the bank)."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Locator, Page, expect

from e2e.test_customer_journeys import _deposit
from e2e.ui import (
    ACCOUNT_NUMBER_RE,
    TIMEOUT_MS,
    UUID_RE,
    Customer,
    account_card,
    bank_session,
    fill,
    open_account,
    register,
    shot,
    shows,
    tab,
    tap,
)


def chip(page: Page, text: str) -> Locator:
    """A chip by its exact label (Flutter web exposes a chip as a checkbox)."""
    return page.get_by_role("checkbox", name=text, exact=True)


SCREEN_TEXT = "document.querySelector('flt-semantics-host')?.textContent || ''"


async def tap_line(page: Page, title: str) -> None:
    """Open a line of history by its title ("To Alice"): the line is one button."""
    line = page.locator("flt-semantics[role=button]").filter(
        has_text=re.compile(rf"^\s*{re.escape(title)}\n")
    )
    await line.first.wait_for(timeout=TIMEOUT_MS)
    await line.first.click()


async def _balance_in_bank(api_url: str, c: Customer, expected: int) -> int:
    """The account's balance as the bank answers it, once it is ``expected`` or 15 s
    have passed (the balance is read from a projection: eventually consistent)."""
    auth, account_id = await bank_session(api_url, c)
    async with httpx.AsyncClient(base_url=f"{api_url}/api/v1", timeout=10) as http:
        deadline = time.monotonic() + 15
        while True:
            r = await http.get(f"/accounts/{account_id}/balance", headers=auth)
            r.raise_for_status()
            amount = int(r.json()["balance"]["amount"])
            if amount == expected or time.monotonic() > deadline:
                return amount
            await asyncio.sleep(0.2)


async def _add_payee(c: Customer, number: str, holder: str, nickname: str) -> None:
    """Payments > Transfer > Add payee, as a customer fills it in."""
    page = c.page
    await tab(page, "Payments").click()
    await tap(page, "Transfer")
    await tap(page, "Add payee")
    await fill(page, "Payee account number", number)
    await fill(page, "Name on the account", holder)
    await fill(page, "Nickname", nickname)
    await tap(page, "Check and save")


async def test_the_account_number_is_shown_in_groups_and_the_internal_id_never(phone) -> None:
    ivy = await register(await phone(), "Ivy")
    number = await open_account(ivy)
    assert re.fullmatch(ACCOUNT_NUMBER_RE, number), number
    await expect(shows(ivy.page, f"Account number {number}")).to_be_visible()
    await tap(ivy.page, "Copy")
    await expect(shows(ivy.page, "Account number copied")).to_be_visible()
    assert not re.search(UUID_RE, await ivy.page.evaluate(SCREEN_TEXT))
    await shot(ivy.page, "account-number", "1-account")

    await tab(ivy.page, "Home").click()
    await expect(account_card(ivy.page, number)).to_be_visible()
    assert not re.search(UUID_RE, await ivy.page.evaluate(SCREEN_TEXT))
    await shot(ivy.page, "account-number", "2-home")


async def test_a_payee_is_added_with_the_name_check_in_words_and_paid(
    phone, real_api_url: str
) -> None:
    alice = await register(await phone(), "Alice")
    await open_account(alice)

    bob = await register(await phone(), "Bob")
    await open_account(bob)
    await _deposit(bob, "50.00", "50.00 EUR")

    # A name one letter off: close, and the app says to check it, without the real name.
    await _add_payee(bob, alice.account_number, "Alice Exampel", "Ally")
    await expect(shows(bob.page, "Close match — check the name with the payee")).to_be_visible(
        timeout=TIMEOUT_MS
    )
    assert "Alice Example" not in await bob.page.evaluate(SCREEN_TEXT)
    await shot(bob.page, "payee", "1-close-match")
    await tap(bob.page, "Done")

    # The right name: it matches, and the payee is picked for the payment.
    await _add_payee(bob, alice.account_number, "alice example", "Alice")
    await expect(shows(bob.page, "The name matches")).to_be_visible(timeout=TIMEOUT_MS)
    await shot(bob.page, "payee", "2-match")
    await tap(bob.page, "Done")
    await expect(chip(bob.page, "Pay Alice")).to_have_count(1, timeout=TIMEOUT_MS)
    await expect(chip(bob.page, "Pay Ally")).to_have_count(0)  # the same account, renamed

    # Another account number nobody checked by name: no match is said plainly.
    await tap(bob.page, "Add payee")
    await fill(bob.page, "Payee account number", alice.account_number)
    await fill(bob.page, "Name on the account", "Mallory Someone")
    await fill(bob.page, "Nickname", "Alice")
    await tap(bob.page, "Check and save")
    await expect(shows(bob.page, "No match — the name does not match this account")).to_be_visible(
        timeout=TIMEOUT_MS
    )
    await expect(shows(bob.page, re.compile("wrong person"))).to_be_visible()
    await shot(bob.page, "payee", "3-no-match")
    await tap(bob.page, "Done")

    # Pay the payee (picked from the list, not typed): the confirmation warns, Bob pays.
    await fill(bob.page, "Recipient account number", "")
    await chip(bob.page, "Pay Alice").click()
    await fill(bob.page, "Amount", "20.00")
    await tap(bob.page, "Continue")
    await expect(shows(bob.page, f"Alice ({alice.account_number})")).to_be_visible()
    await expect(shows(bob.page, re.compile("^No match"))).to_be_visible()
    await shot(bob.page, "payee", "4-confirm")
    await tap(bob.page, "Confirm")
    await expect(shows(bob.page, "Transfer of 20.00 EUR to Alice done")).to_be_visible(
        timeout=TIMEOUT_MS
    )
    await expect(shows(bob.page, "New balance 30.00 EUR")).to_be_visible()
    await shot(bob.page, "payee", "5-paid")
    await tab(bob.page, "Home").click()
    await expect(shows(bob.page, "30.00 EUR")).to_be_visible()

    assert await _balance_in_bank(real_api_url, bob, 30_00) == 30_00
    assert await _balance_in_bank(real_api_url, alice, 20_00) == 20_00
    # Alice's app shows the money arrived (pushed live).
    await expect(shows(alice.page, "20.00 EUR")).to_be_visible(timeout=TIMEOUT_MS)

    # The history says who each transfer was with: Bob's by his payee's nickname;
    # Alice, who saved no payee, sees Bob's account number. A tap opens the details.
    await tap_line(bob.page, "To Alice")
    await expect(shows(bob.page, "To account")).to_be_visible(timeout=TIMEOUT_MS)
    await expect(shows(bob.page, alice.account_number)).to_be_visible()
    await shot(bob.page, "payee", "7-details")
    await tap(bob.page, "Close")
    await tap_line(alice.page, f"From {bob.account_number}")
    await expect(shows(alice.page, "From account")).to_be_visible(timeout=TIMEOUT_MS)
    assert not re.search(UUID_RE, await alice.page.evaluate(SCREEN_TEXT))
    await shot(alice.page, "payee", "8-details")
    await tap(alice.page, "Close")  # the next test takes this phone: leave it on Home
    await expect(shows(alice.page, "From account")).to_have_count(0, timeout=TIMEOUT_MS)
    await tab(alice.page, "Home").click()


async def test_saved_payees_are_listed_after_signing_in_again(phone, real_api_url: str) -> None:
    """Needs GET /api/v1/payees (issue #17, the `banking` branch)."""
    async with httpx.AsyncClient(base_url=f"{real_api_url}/api/v1", timeout=10) as http:
        probe = await http.get("/payees")
    if probe.status_code in (404, 405):
        pytest.skip(
            "the bank does not list payees yet (GET /api/v1/payees answers "
            f"{probe.status_code}); the app offers the payees added this session"
        )
    carl = await register(await phone(), "Carl")
    await open_account(carl)
    dora = await register(await phone(), "Dora")
    await open_account(dora)
    await _add_payee(dora, carl.account_number, "Carl Example", "Carl")
    await expect(shows(dora.page, "The name matches")).to_be_visible(timeout=TIMEOUT_MS)
    await tap(dora.page, "Done")

    await tab(dora.page, "Settings").click()
    await tap(dora.page, "Sign out")  # wipes what the device kept
    await fill(dora.page, "Email", dora.email)
    await fill(dora.page, "Password", dora.password)
    await tap(dora.page, "Sign in")
    await tab(dora.page, "Payments").click()
    await tap(dora.page, "Transfer")
    await expect(chip(dora.page, "Pay Carl")).to_have_count(1, timeout=TIMEOUT_MS)
    await shot(dora.page, "payee", "6-listed")

    # Forgotten at the bank, so gone from the list here and after the next sign-in.
    await dora.page.get_by_role("button", name="Forget Carl").click()
    await tap(dora.page, "Forget")
    await expect(chip(dora.page, "Pay Carl")).to_have_count(0, timeout=TIMEOUT_MS)
    auth, _ = await bank_session(real_api_url, dora)
    async with httpx.AsyncClient(base_url=f"{real_api_url}/api/v1", timeout=10) as http:
        listed = await http.get("/payees", headers=auth)
    assert listed.json()["items"] == []


def _without_as_of(csv: bytes) -> bytes:
    return b"\r\n".join(line for line in csv.split(b"\r\n") if not line.startswith(b"as_of,"))


async def test_a_monthly_statement_is_saved_from_the_account_screen(
    phone, real_api_url: str
) -> None:
    """The app fetches the statement with the bearer token and hands the bytes to the
    browser as a download; before the bank offers statements it says so in words."""
    sue = await register(await phone(), "Sue")
    await open_account(sue)
    await _deposit(sue, "12.34", "12.34 EUR")
    await tab(sue.page, "Home").click()
    await account_card(sue.page, "Everyday account").click()
    await expect(shows(sue.page, "Statements")).to_be_visible(timeout=TIMEOUT_MS)
    month = datetime.now(UTC).strftime("%Y-%m")
    auth, account_id = await bank_session(real_api_url, sue)
    async with httpx.AsyncClient(base_url=f"{real_api_url}/api/v1", timeout=30) as http:
        bank = await http.get(
            f"/accounts/{account_id}/statements/{month}", params={"format": "csv"}, headers=auth
        )
    if bank.status_code == 404 and "account" not in bank.text.lower():
        await tap(sue.page, "CSV")
        await expect(
            shows(sue.page, "Statements are not available from the bank yet.")
        ).to_be_visible(timeout=TIMEOUT_MS)
        await shot(sue.page, "statement", "not-yet")
        pytest.skip("the bank has no statements endpoint yet (404): the app said so")
    assert bank.status_code == 200, bank.text
    async with sue.page.expect_download(timeout=TIMEOUT_MS) as info:
        await tap(sue.page, "CSV")
    download = await info.value
    assert download.suggested_filename == (
        f"statement-{sue.account_number.replace(' ', '')}-{month}.csv"
    )
    saved = Path(await download.path()).read_bytes()
    # The same statement as the bank's, but for the moment it was made: a month still
    # running says "as_of" to the second, and the two were asked for a moment apart
    # (04:16:53 and 04:16:54 once in CI).
    assert b"\r\nas_of," in saved
    assert _without_as_of(saved) == _without_as_of(bank.content)
    assert b"12.34" in saved or b"1234" in saved
    await expect(shows(sue.page, re.compile("^Statement for .* saved as"))).to_be_visible()
    await shot(sue.page, "statement", "saved")
