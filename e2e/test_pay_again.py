"""A customer repeats a payment from its details: Payments opens filled in as it was
made, nothing goes until they confirm, and the bank has both payments."""

from __future__ import annotations

import re

import httpx
from playwright.async_api import expect

from e2e.test_closing_an_account import _back_to
from e2e.test_customer_journeys import _deposit
from e2e.ui import (
    TIMEOUT_MS,
    bank_session,
    fill,
    open_account,
    register,
    shot,
    shows,
    tab,
    tap,
)


async def test_a_payment_is_made_again_from_its_details(phone, api_url: str) -> None:
    ivy = await register(await phone(), "Ivy")
    await open_account(ivy, "Everyday")
    page = ivy.page
    await _deposit(ivy, "100.00", "100.00 EUR")
    auth, everyday = await bank_session(api_url, ivy)
    await tab(page, "Home").click()
    savings = await open_account(ivy, "Savings")

    await _back_to(page, "Everyday")
    await tap(page, "Transfer")
    await fill(page, "Amount", "12.50")
    await fill(page, "Recipient account number", savings)
    await fill(page, "Description (optional)", "Pocket money")
    await tap(page, "Continue")
    await tap(page, "Confirm")
    await expect(shows(page, "New balance 87.50 EUR")).to_be_visible(timeout=TIMEOUT_MS)

    await _back_to(page, "Everyday")
    await page.get_by_role("button", name=re.compile("Pocket money")).first.click()
    await tap(page, "Pay again")
    # Payments, filled in as the payment was made; nothing is sent before the customer
    # confirms (Flutter mirrors a field's text into the page only while it has focus:
    # the confirmation shows what was filled in)
    await expect(shows(page, "Move money")).to_be_visible(timeout=TIMEOUT_MS)
    await shot(page, "pay-again", "1-filled-in")
    await tap(page, "Continue")
    await expect(shows(page, "Confirm transfer")).to_be_visible(timeout=TIMEOUT_MS)
    for line in ("12.50 EUR", f"my Savings ({savings})", "Pocket money"):
        await expect(shows(page, line)).to_be_visible()
    await tap(page, "Confirm")
    await expect(shows(page, "New balance 75.00 EUR")).to_be_visible(timeout=TIMEOUT_MS)

    async with httpx.AsyncClient(base_url=f"{api_url}/api/v1", timeout=10) as http:
        r = await http.get(
            f"/accounts/{everyday}/transactions", params={"kind": "transfer_out"}, headers=auth
        )
    assert [
        (t["amount"]["amount"], t["counterparty_account_number"], t["description"])
        for t in r.json()["items"]
    ] == [(12_50, savings, "Pocket money")] * 2
    await tab(page, "Home").click()
