"""Notifications in the app: money from another customer raises the in-app banner and
the Inbox badge within 2 s of the transfer reaching the bank, on whatever screen the
recipient is."""

from __future__ import annotations

import asyncio
import re

from playwright.async_api import expect

from e2e.netlink import BankLink
from e2e.test_customer_journeys import _deposit
from e2e.ui import (
    TIMEOUT_MS,
    button,
    fill,
    open_account,
    register,
    seen_at,
    shot,
    shows,
    tab,
    tap,
)

BOUND_S = 2.0


async def test_a_transfer_from_another_customer_raises_the_in_app_notification(
    phone, link: BankLink
) -> None:
    alice = await register(await phone(), "Alice")
    await open_account(alice)
    await tab(alice.page, "Settings").click()  # not on the account: the banner must find her
    await expect(shows(alice.page, "Signed-in devices")).to_be_visible(timeout=TIMEOUT_MS)

    bob = await register(await phone(), "Bob")
    await open_account(bob)
    await _deposit(bob, "50.00", "50.00 EUR")
    await tap(bob.page, "Transfer")
    await fill(bob.page, "Recipient account number", alice.account_number)
    await fill(bob.page, "Amount", "25.00")
    await tap(bob.page, "Continue")
    await button(bob.page, "Confirm").first.wait_for()

    banner = asyncio.create_task(seen_at(alice.page, "You received 25.00 EUR", BOUND_S + 20))
    await tap(bob.page, "Confirm")
    await expect(shows(bob.page, "New balance 25.00 EUR")).to_be_visible(timeout=TIMEOUT_MS)
    alice_saw = await banner
    sent = link.last_sent_at("/transfers")
    assert sent is not None
    print(f"\nthe recipient saw the notification {alice_saw - sent:.2f}s after the transfer")
    assert alice_saw - sent <= BOUND_S
    await expect(shows(alice.page, "View")).to_be_visible()
    # the banner's close icon is named for a screen reader (its icon's semantics label)
    await expect(alice.page.get_by_role("button", name="Dismiss", exact=True)).to_be_visible()
    await expect(alice.page.get_by_role("tab", name=re.compile("^Inbox, 1 unread"))).to_have_count(
        1
    )
    await shot(alice.page, "notification", "1-banner")

    # The Inbox lists it; opening the Inbox marks it read (the badge goes).
    await tap(alice.page, "View")
    await expect(shows(alice.page, "A transfer arrived; new balance 25.00 EUR.")).to_be_visible()
    await shot(alice.page, "notification", "2-inbox")
    await expect(alice.page.get_by_role("tab", name=re.compile("unread"))).to_have_count(0)
