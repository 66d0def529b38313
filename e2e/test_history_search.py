"""A customer finds a payment in the history by a word of its description; a search
that finds nothing says so, and an empty one shows everything again. Payments made
elsewhere while the screen is open reach its 30-day chart too, and a payment that
arrives while a search is on its way stays in the list the search brings. Home's recent
activity holds the newest payments over every account."""

from __future__ import annotations

import asyncio
import re
import time
import uuid

import httpx
from playwright.async_api import Locator, Page, expect

from e2e.netlink import BankLink
from e2e.ui import (
    TIMEOUT_MS,
    bank_session,
    fill,
    keep_signed_in,
    open_account,
    register,
    relaunch,
    shot,
    shows,
    tab,
    unlock,
)

PIN = "593017"


def line(page: Page, description: str) -> Locator:
    """A line of history (one button: its title, description, date and amount)."""
    return page.get_by_role("button", name=re.compile(re.escape(description)))


async def deposit(api_url: str, auth: dict[str, str], account_id: str, text: str) -> None:
    """A deposit of 1.00 EUR made over the API, not through the app (as from elsewhere)."""
    async with httpx.AsyncClient(base_url=f"{api_url}/api/v1", timeout=10) as http:
        r = await http.post(
            f"/accounts/{account_id}/deposits",
            json={"amount": 1_00, "description": text},
            headers={**auth, "Idempotency-Key": str(uuid.uuid4())},
        )
        assert r.status_code == 201, r.text


async def test_the_history_is_searched_by_a_word_of_the_description(phone, api_url: str) -> None:
    hal = await register(await phone(), "Hal")
    await open_account(hal)
    page = hal.page
    auth, account_id = await bank_session(api_url, hal)
    for text in ("Rent December", "Groceries", "rent January"):
        await deposit(api_url, auth, account_id, text)
    await expect(line(page, "Groceries")).to_be_visible(timeout=TIMEOUT_MS)
    # the 30-day chart moves with the account too (it was loaded before these came)
    await expect(shows(page, "In 3.00 EUR · Out 0.00 EUR · 3 transactions")).to_be_visible(
        timeout=TIMEOUT_MS
    )

    await fill(page, "Search history", "RENT")
    await page.keyboard.press("Enter")
    await expect(line(page, "Groceries")).to_have_count(0, timeout=TIMEOUT_MS)
    await expect(line(page, "rent January")).to_be_visible()
    await expect(line(page, "Rent December")).to_be_visible()
    await shot(page, "search", "1-rent")

    await fill(page, "Search history", "holiday")
    await page.keyboard.press("Enter")
    await expect(shows(page, "No transactions match.")).to_be_visible(timeout=TIMEOUT_MS)

    await fill(page, "Search history", "")
    await page.keyboard.press("Enter")
    await expect(line(page, "Groceries")).to_be_visible(timeout=TIMEOUT_MS)
    await expect(line(page, "Rent December")).to_be_visible()
    await tab(page, "Home").click()


async def test_a_payment_pushed_while_a_search_is_on_its_way_stays_in_the_list(
    phone, api_url: str, link: BankLink
) -> None:
    """The bank answers a search from its read model; the push of a payment made while the
    answer was on its way must not be wiped out by it (the list took the answer alone)."""
    ivy = await register(await phone(), "Ivy")
    await open_account(ivy)
    page = ivy.page
    auth, account_id = await bank_session(api_url, ivy)
    await deposit(api_url, auth, account_id, "Rent December")
    await expect(line(page, "Rent December")).to_be_visible(timeout=TIMEOUT_MS)

    link.hold_next_response("q=rent", 3.0)
    asked = time.monotonic()
    for attempt in range(2):
        await fill(page, "Search history", "rent")
        await page.keyboard.press("Enter")
        deadline = time.monotonic() + 5
        while (link.last_sent_at("q=rent") or 0) < asked:  # the search reached the bank
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        else:
            break
        # Once in a CI run the field was empty again after the typed and checked "rent"
        # and Enter, and nothing was sent (a screenshot showed the empty field). Most
        # likely the app's value of the field had missed the browser's change, searched
        # with it, and wrote it back, as the test above once saw with "RENT" for
        # "holiday"; the app now takes the submitted text (common.take_submitted). What
        # is left is a browser that drops the typed text itself: a person types it again,
        # once.
        field_now = await page.get_by_role("textbox", name="Search history").input_value()
        assert attempt == 0, f"the search never reached the bank (the field: {field_now!r})"
    await deposit(api_url, auth, account_id, "Rent January")  # not in the search's answer
    await expect(line(page, "Rent January")).to_be_visible(timeout=TIMEOUT_MS)  # pushed
    deadline = time.monotonic() + 10
    while link.held_responses < 1:  # the search's answer reached the app
        assert time.monotonic() < deadline, "the held answer was never handed on"
        await asyncio.sleep(0.05)
    await page.wait_for_timeout(1_000)  # the app takes the answer in
    await expect(line(page, "Rent January")).to_be_visible(timeout=1_000)
    await expect(line(page, "Rent December")).to_be_visible(timeout=1_000)

    await fill(page, "Search history", "")
    await page.keyboard.press("Enter")
    await expect(line(page, "Rent January")).to_be_visible(timeout=TIMEOUT_MS)
    await tab(page, "Home").click()


async def test_home_shows_the_newest_payments_over_every_account(phone, api_url: str) -> None:
    """Recent activity on Home is over all of a customer's accounts: a payment into
    the sixth shows there when the app starts (the app asked the first four only)."""
    pia = await register(await phone(), "Pia")
    await open_account(pia)
    auth, _ = await bank_session(api_url, pia)
    async with httpx.AsyncClient(base_url=f"{api_url}/api/v1", timeout=10) as http:
        for n in range(2, 7):
            r = await http.post(
                "/accounts", json={"currency": "EUR", "name": f"Pot {n}"}, headers=auth
            )
            assert r.status_code == 201, r.text
    await deposit(api_url, auth, r.json()["id"], "Birthday money")
    await keep_signed_in(pia.page, PIN)
    page = await relaunch(pia.phone)  # Home asks the bank, nothing pushed
    await unlock(page, PIN)
    await expect(shows(page, "Pot 6")).to_be_visible(timeout=TIMEOUT_MS)
    await expect(line(page, "Birthday money")).to_be_visible(timeout=TIMEOUT_MS)
    await shot(page, "home", "recent-over-every-account")
