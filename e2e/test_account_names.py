"""A customer renames an account in the app: the account's screen and Home call it by
its new name, and so does the bank. The account's screen also shows its limits."""

from __future__ import annotations

import httpx
from playwright.async_api import expect

from e2e.ui import (
    TIMEOUT_MS,
    account_card,
    bank_session,
    fill,
    open_account,
    register,
    shot,
    shows,
    tap,
)


async def test_an_account_is_renamed_from_its_screen(phone, api_url: str) -> None:
    rita = await register(await phone(), "Rita")
    await open_account(rita)  # ends on the account's screen
    page = rita.page
    # The limits a payment meets are shown before paying (the bank's defaults here).
    await expect(shows(page, "1,000,000,000.00 EUR left today")).to_be_visible(timeout=TIMEOUT_MS)
    await tap(page, "Rename")
    await fill(page, "Account name", "Holiday fund")
    await tap(page, "Save")
    await expect(shows(page, "Renamed to Holiday fund")).to_be_visible(timeout=TIMEOUT_MS)
    await expect(page.get_by_text("Holiday fund", exact=True).first).to_be_visible()
    await shot(page, "rename", "1-renamed")

    # Back is an icon; a screen reader still names it (the icon's semantics label).
    await page.get_by_role("button", name="Back", exact=True).click()
    await expect(account_card(page, "Holiday fund")).to_be_visible(timeout=TIMEOUT_MS)
    await expect(account_card(page, "Everyday account")).to_have_count(0)
    await shot(page, "rename", "2-home")
    auth, account_id = await bank_session(api_url, rita)
    async with httpx.AsyncClient(base_url=f"{api_url}/api/v1", timeout=10) as http:
        shown = await http.get(f"/accounts/{account_id}", headers=auth)
    assert shown.json()["name"] == "Holiday fund"
