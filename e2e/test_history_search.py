"""A customer finds a payment in the history by a word of its description; a search
that finds nothing says so, and an empty one shows everything again. Payments made
elsewhere while the screen is open reach its 30-day chart too."""

from __future__ import annotations

import re
import uuid

import httpx
from playwright.async_api import Locator, Page, expect

from e2e.ui import TIMEOUT_MS, bank_session, fill, open_account, register, shot, shows, tab


def line(page: Page, description: str) -> Locator:
    """A line of history (one button: its title, description, date and amount)."""
    return page.get_by_role("button", name=re.compile(re.escape(description)))


async def test_the_history_is_searched_by_a_word_of_the_description(phone, api_url: str) -> None:
    hal = await register(await phone(), "Hal")
    await open_account(hal)
    page = hal.page
    auth, account_id = await bank_session(api_url, hal)
    async with httpx.AsyncClient(base_url=f"{api_url}/api/v1", timeout=10) as http:
        for text in ("Rent December", "Groceries", "rent January"):
            r = await http.post(
                f"/accounts/{account_id}/deposits",
                json={"amount": 1_00, "description": text},
                headers={**auth, "Idempotency-Key": str(uuid.uuid4())},
            )
            assert r.status_code == 201, r.text
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
