"""A customer keeps the app on their phone: it reopens behind a PIN, wrong PINs lock it,
and it starts without the bank, showing what it kept, and catches up exactly once.

In web mode there is no keystore and no biometrics (the Flet extensions are not in the
prebuilt web client): the refresh token is sealed with the PIN in the browser's storage,
which the browser context keeps across relaunches as a phone keeps its storage.
"""

from __future__ import annotations

import re

from playwright.async_api import expect

from e2e.netlink import BankLink
from e2e.test_customer_journeys import _bank_view, _deposit
from e2e.ui import (
    TIMEOUT_MS,
    account_card,
    button,
    field,
    keep_signed_in,
    kept_session,
    move_money,
    open_account,
    register,
    relaunch,
    shot,
    shows,
    tab,
    unlock,
)

PIN = "482916"


async def test_relaunch_stays_signed_in_behind_a_pin(phone) -> None:
    ursula = await register(await phone(), "Ursula")
    await expect(shows(ursula.page, "Hello, Ursula Example")).to_be_visible()
    await keep_signed_in(ursula.page, PIN)
    await shot(ursula.page, "pin", "1-settings")
    stored = await kept_session(ursula.page)
    assert stored is not None
    assert stored["method"] == "pin" and stored["email"] == ursula.email
    assert stored["salt"] and len(stored["token"]) > 40  # sealed with the PIN

    page = await relaunch(ursula.phone)

    await expect(shows(page, "Welcome back, Ursula")).to_be_visible(timeout=TIMEOUT_MS)
    await expect(tab(page, "Home")).to_have_count(0)  # nothing shown before the PIN
    await shot(page, "pin", "2-unlock")
    await unlock(page, PIN)
    await expect(shows(page, "Hello, Ursula Example")).to_be_visible(timeout=TIMEOUT_MS)
    await expect(shows(page, "Live")).to_be_visible(timeout=TIMEOUT_MS)  # the bank took it
    await shot(page, "pin", "3-unlocked")

    # Signing out wipes what the device kept: the next launch asks for the password.
    await tab(page, "Settings").click()
    await button(page, "Sign out").first.click()
    await expect(button(page, "Sign in")).to_be_visible(timeout=TIMEOUT_MS)
    assert await kept_session(page) is None
    page = await relaunch(ursula.phone)
    await expect(button(page, "Sign in")).to_be_visible(timeout=TIMEOUT_MS)


async def test_five_wrong_pins_drop_the_kept_session(phone) -> None:
    victor = await register(await phone(), "Victor")
    await keep_signed_in(victor.page, PIN)
    page = await relaunch(victor.phone)
    await expect(shows(page, "Welcome back, Victor")).to_be_visible(timeout=TIMEOUT_MS)

    for left in (4, 3, 2, 1):
        await unlock(page, "000000")
        tries = "1 try" if left == 1 else f"{left} tries"
        await expect(shows(page, f"Wrong PIN. {tries} left.")).to_be_visible()
    await shot(page, "pin", "4-wrong")
    await unlock(page, "000000")

    await expect(shows(page, re.compile("5 wrong PINs"))).to_be_visible(timeout=TIMEOUT_MS)
    await expect(button(page, "Sign in")).to_be_visible()
    await shot(page, "pin", "5-locked-out")
    assert await kept_session(page) is None
    page = await relaunch(victor.phone)  # and it stays so
    await expect(button(page, "Sign in")).to_be_visible(timeout=TIMEOUT_MS)
    await expect(field(page, "PIN")).to_have_count(0)


async def test_cold_start_without_the_bank_shows_kept_balances_and_syncs_once(
    phone, link: BankLink, real_api_url: str
) -> None:
    wanda = await register(await phone(), "Wanda")
    await open_account(wanda)
    await _deposit(wanda, "100.00", "100.00 EUR")
    await keep_signed_in(wanda.page, PIN)

    # The app is closed; the bank becomes unreachable; the app starts again.
    link.down()
    page = await relaunch(wanda.phone)
    await unlock(page, PIN)

    await expect(shows(page, "Hello, Wanda Example")).to_be_visible(timeout=TIMEOUT_MS)
    await expect(shows(page, "100.00 EUR")).to_be_visible()
    await expect(shows(page, re.compile(r"^As of \d{1,2} \w{3} \d{4}, \d\d:\d\d"))).to_be_visible()
    await expect(shows(page, "Offline")).to_be_visible()
    await shot(page, "cold-start", "1-kept-balances")

    await account_card(page, "Everyday account").click()
    await expect(shows(page, "+100.00 EUR")).to_be_visible()  # the kept first page
    await move_money(page, "Withdraw", "30.00")
    await expect(shows(page, "Withdrawal of 30.00 EUR queued")).to_be_visible()
    await tab(page, "Home").click()
    await expect(shows(page, "Pending: waiting for the connection")).to_be_visible()
    await shot(page, "cold-start", "2-queued")

    # The bank is back; the answer to the first attempt is lost on the way back.
    link.lose_next_response("/withdrawals")
    link.up()
    await expect(shows(page, "Done · new balance 70.00 EUR")).to_be_visible(timeout=30_000)
    await expect(shows(page, re.compile(r"^As of"))).to_have_count(0)
    await shot(page, "cold-start", "3-synced")
    assert link.lost_responses == 1

    balance, postings = await _bank_view(real_api_url, wanda, expected=2)
    assert balance == 70_00
    assert [t["amount"]["amount"] for t in postings if t["kind"] == "withdrawal"] == [30_00]
