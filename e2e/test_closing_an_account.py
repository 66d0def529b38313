"""A customer closes an account from its screen: refused (with the bank's reason) while
money is on it, with one tap to move the money (its whole balance filled in), closed
once it is empty; a closed account moves no money in the app."""

from __future__ import annotations

import httpx
from playwright.async_api import Page, expect

from e2e.test_customer_journeys import _deposit
from e2e.test_payees import chip
from e2e.ui import (
    TIMEOUT_MS,
    account_card,
    bank_session,
    button,
    open_account,
    register,
    shot,
    shows,
    tab,
    tap,
)


async def _back_to(page: Page, name: str) -> None:
    await tab(page, "Home").click()
    await account_card(page, name).click()
    await expect(shows(page, "Statements")).to_be_visible(timeout=TIMEOUT_MS)


async def _close(page: Page) -> None:
    await tap(page, "Close account")
    await expect(shows(page, "Close account?")).to_be_visible(timeout=TIMEOUT_MS)
    await button(page, "Close account").last.click()  # the dialog's


async def test_an_account_is_closed_once_it_is_empty(phone, api_url: str) -> None:
    cleo = await register(await phone(), "Cleo")
    await open_account(cleo, "Everyday")
    await tab(cleo.page, "Home").click()
    await open_account(cleo, "Old savings")
    page = cleo.page
    await _deposit(cleo, "10.00", "10.00 EUR")
    await _back_to(page, "Old savings")

    await _close(page)
    await expect(shows(page, "move the money first")).to_be_visible(timeout=TIMEOUT_MS)
    await shot(page, "close", "1-refused")
    await tap(page, "Move the money")  # Move money, its whole balance filled in
    await chip(page, "To my Everyday").click()
    await tap(page, "Continue")
    await expect(shows(page, "Confirm transfer")).to_be_visible(timeout=TIMEOUT_MS)
    for line in ("10.00 EUR", "Old savings", "Closing Old savings"):
        await expect(shows(page, line)).to_be_visible()
    await tap(page, "Confirm")
    await expect(shows(page, "New balance 0.00 EUR")).to_be_visible(timeout=TIMEOUT_MS)
    await _back_to(page, "Old savings")
    await _close(page)
    await expect(shows(page, "Account closed")).to_be_visible(timeout=TIMEOUT_MS)
    # Closed for good: nothing to pay in or out, nothing to rename or close again.
    for gone in ("Deposit", "Withdraw", "Transfer", "Rename", "Close account"):
        await expect(button(page, gone)).to_have_count(0, timeout=TIMEOUT_MS)
    await expect(shows(page, "left today")).to_have_count(0)
    await shot(page, "close", "2-closed")

    auth, account_id = await bank_session(api_url, cleo)
    async with httpx.AsyncClient(base_url=f"{api_url}/api/v1", timeout=10) as http:
        shown = await http.get(f"/accounts/{account_id}", headers=auth)
    assert shown.json()["status"] == "closed"
    await tab(page, "Home").click()
    await expect(account_card(page, "Old savings")).to_be_visible(timeout=TIMEOUT_MS)
