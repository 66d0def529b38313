"""Available and ledger balance in the app (issue #17): a card-style hold placed at
the bank lowers the available balance the app shows (pushed live) while the ledger
balance stays, and the account screen lists what is held; a payment made meanwhile
says both; voiding the hold brings the single figure back."""

from __future__ import annotations

import uuid

import httpx
from playwright.async_api import expect

from e2e.test_customer_journeys import _deposit
from e2e.ui import (
    TIMEOUT_MS,
    account_card,
    bank_session,
    move_money,
    open_account,
    register,
    shot,
    shows,
    tab,
)


async def test_a_hold_shows_available_beside_the_balance_live(phone, real_api_url: str) -> None:
    hana = await register(await phone(), "Hana")
    await open_account(hana)
    await _deposit(hana, "100.00", "100.00 EUR")
    await tab(hana.page, "Home").click()
    await expect(shows(hana.page, "100.00 EUR")).to_be_visible()

    # A card payment is authorised at the bank (placed as the customer, through the API).
    auth, account_id = await bank_session(real_api_url, hana)
    async with httpx.AsyncClient(base_url=f"{real_api_url}/api/v1", timeout=10) as http:
        held = await http.post(
            f"/accounts/{account_id}/holds",
            json={"amount": 30_00, "description": "Hotel deposit"},
            headers={**auth, "Idempotency-Key": str(uuid.uuid4())},
        )
        assert held.status_code == 201, held.text
        hold_id = held.json()["hold_id"]

        await expect(shows(hana.page, "Available 70.00 EUR")).to_be_visible(timeout=TIMEOUT_MS)
        await expect(shows(hana.page, "Balance 100.00 EUR")).to_be_visible()
        await shot(hana.page, "available", "1-home")
        await account_card(hana.page, "Everyday account").click()
        await expect(shows(hana.page, "Available")).to_be_visible(timeout=TIMEOUT_MS)
        await expect(shows(hana.page, "70.00 EUR")).to_be_visible()
        await expect(shows(hana.page, "Balance 100.00 EUR")).to_be_visible()
        await expect(shows(hana.page, "Hotel deposit")).to_be_visible()  # what is held, and why
        await expect(shows(hana.page, "−30.00 EUR")).to_be_visible()
        await shot(hana.page, "available", "2-account")

        # A payment from the app says what is left to spend, not only the ledger balance.
        await move_money(hana.page, "Withdraw", "10.00")
        await expect(
            shows(hana.page, "New balance 90.00 EUR (available 60.00 EUR)")
        ).to_be_visible()
        await shot(hana.page, "available", "2b-withdrawn")
        await tab(hana.page, "Home").click()
        await expect(shows(hana.page, "Available 60.00 EUR")).to_be_visible(timeout=TIMEOUT_MS)
        await account_card(hana.page, "Everyday account").click()
        await expect(shows(hana.page, "Balance 90.00 EUR")).to_be_visible(timeout=TIMEOUT_MS)
        await expect(shows(hana.page, "Hotel deposit")).to_be_visible()

        voided = await http.post(
            f"/accounts/{account_id}/holds/{hold_id}/void",
            headers={**auth, "Idempotency-Key": str(uuid.uuid4())},
        )
        assert voided.status_code == 200, voided.text
    await expect(shows(hana.page, "Balance 90.00 EUR")).to_have_count(0, timeout=TIMEOUT_MS)
    await expect(shows(hana.page, "Hotel deposit")).to_have_count(0, timeout=TIMEOUT_MS)
    await expect(shows(hana.page, "90.00 EUR")).to_be_visible()
    await shot(hana.page, "available", "3-voided")
