"""A customer's journeys through the web app, in a real browser against the real stack.

What "offline" means here: in web mode the app's Python code runs in the Flet
server, so ``context.set_offline`` cuts only the browser from that server (the
UI freezes, the session survives and resumes). The app's own link to the bank
goes through ``BankLink``, which a test cuts to make the bank unreachable; that
is the situation the offline queue exists for. See client/README.md.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid

import httpx
from playwright.async_api import expect

from e2e.netlink import BankLink
from e2e.ui import (
    Customer,
    account_card,
    bank_session,
    button,
    fill,
    move_money,
    open_account,
    register,
    seen_at,
    shot,
    shows,
    tab,
    tap,
)

LIVE_BOUND_S = 2.0
# The app's queue as the browser stores it (SharedPreferences on web = localStorage).
DEVICE_QUEUE = "JSON.parse(localStorage.getItem('flutter.bank.queue.v1') || '\"[]\"')"


async def _deposit(c: Customer, amount: str, balance: str) -> None:
    await move_money(c.page, "Deposit", amount)
    await expect(shows(c.page, f"New balance {balance}")).to_be_visible()


async def _bank_view(api_url: str, c: Customer, expected: int) -> tuple[int, list[dict]]:
    """The bank's own answer (not the app's): balance and postings of the account, once
    the history (an eventually consistent read model) lists ``expected`` postings or 15 s
    have passed."""
    auth, _ = await bank_session(api_url, c)
    async with httpx.AsyncClient(base_url=f"{api_url}/api/v1", timeout=10) as http:
        deadline = time.monotonic() + 15
        while True:
            bal = await http.get(f"/accounts/{c.account_id}/balance", headers=auth)
            bal.raise_for_status()
            txs = await http.get(f"/accounts/{c.account_id}/transactions?limit=100", headers=auth)
            txs.raise_for_status()
            items = txs.json()["items"]
            if len(items) >= expected or time.monotonic() > deadline:
                return bal.json()["balance"]["amount"], items
            await asyncio.sleep(0.2)


async def test_new_customer_opens_an_account_and_deposits(phone) -> None:
    alice = await register(await phone(), "Alice")
    await shot(alice.page, "deposit", "1-home")
    await open_account(alice)
    await shot(alice.page, "deposit", "2-account")

    await move_money(alice.page, "Deposit", "100.00")

    await expect(shows(alice.page, "New balance 100.00 EUR")).to_be_visible()
    await shot(alice.page, "deposit", "3-result")
    await tab(alice.page, "Home").click()
    await expect(shows(alice.page, "100.00 EUR")).to_be_visible()
    await shot(alice.page, "deposit", "4-home")


async def test_transfer_from_another_customer_appears_live(phone, link: BankLink) -> None:
    alice = await register(await phone(), "Alice")
    await open_account(alice)
    await _deposit(alice, "100.00", "100.00 EUR")
    await tab(alice.page, "Home").click()
    await expect(shows(alice.page, "100.00 EUR")).to_be_visible()
    await alice.page.evaluate("window.__not_reloaded = true")

    bob = await register(await phone(), "Bob")
    await open_account(bob)
    await _deposit(bob, "50.00", "50.00 EUR")
    await tap(bob.page, "Transfer")
    await fill(bob.page, "Recipient account number", alice.account_number)
    await fill(bob.page, "Amount", "25.00")
    await tap(bob.page, "Continue")
    await button(bob.page, "Confirm").first.wait_for()

    alice_sees = asyncio.create_task(seen_at(alice.page, "125.00 EUR", LIVE_BOUND_S + 10))
    clicked = time.monotonic()
    await tap(bob.page, "Confirm")
    bob_done = await seen_at(bob.page, "New balance 25.00 EUR", 20)
    alice_saw = await alice_sees
    sent = link.last_sent_at("/transfers")
    assert sent is not None
    print(
        f"\ntransfer reached the bank {sent - clicked:.2f}s after Confirm; the sender saw the "
        f"result after {bob_done - sent:.2f}s, the recipient saw 125.00 EUR after "
        f"{alice_saw - sent:.2f}s"
    )

    # Bound measured from the moment the transfer reached the bank (through the link).
    assert alice_saw - sent <= LIVE_BOUND_S
    assert await alice.page.evaluate("window.__not_reloaded === true")
    await shot(alice.page, "live-transfer", "recipient")
    await shot(bob.page, "live-transfer", "sender")


async def test_offline_withdrawal_is_queued_then_synced_exactly_once(
    phone, link: BankLink, real_api_url: str
) -> None:
    carol = await register(await phone(), "Carol")
    context = carol.context
    await open_account(carol)
    await _deposit(carol, "100.00", "100.00 EUR")
    page = carol.page

    # The bank becomes unreachable: the app says so and keeps the last balance.
    link.down()
    await expect(shows(page, re.compile(r"^Offline"))).to_be_visible(timeout=15_000)
    await shot(page, "offline", "1-bank-unreachable")

    # The browser loses its connection too; the page freezes, then resumes its session.
    await context.set_offline(True)
    await asyncio.sleep(3)
    await context.set_offline(False)
    await expect(button(page, "Continue")).to_be_visible(timeout=30_000)

    # Offline, the customer withdraws 30.00: it is queued on the device with its key.
    await move_money(page, "Withdraw", "30.00")
    await expect(shows(page, "Withdrawal of 30.00 EUR queued")).to_be_visible()
    stored = json.loads(await page.evaluate(DEVICE_QUEUE))
    mine = [q for q in stored if q["owner"] == carol.email and q["kind"] == "withdrawal"]
    assert [(q["amount"], q["status"]) for q in mine] == [(30_00, "pending")]
    assert uuid.UUID(mine[0]["key"]).version == 4  # its idempotency key, made when queued
    await tab(page, "Home").click()
    await expect(shows(page, "Pending: waiting for the connection")).to_be_visible()
    await expect(shows(page, "100.00 EUR")).to_be_visible()
    await shot(page, "offline", "2-queued")

    # The connection returns, and the answer to the first attempt is lost on the way
    # back: the bank applied it, the app cannot know and retries with the same key.
    link.lose_next_response("/withdrawals")
    link.up()
    await expect(shows(page, "Done · new balance 70.00 EUR")).to_be_visible(timeout=30_000)
    await expect(shows(page, "70.00 EUR")).to_be_visible()
    await shot(page, "offline", "3-synced")
    assert link.lost_responses == 1
    assert link.count("/withdrawals") >= 2, link.requests

    balance, postings = await _bank_view(real_api_url, carol, expected=2)
    withdrawals = [t for t in postings if t["kind"] == "withdrawal"]
    assert balance == 70_00
    assert [w["amount"]["amount"] for w in withdrawals] == [30_00]

    await account_card(page, "Everyday account").click()
    # One withdrawal in the history, and still one after it settles (the list re-renders
    # when pushes arrive, so count with a retrying assertion).
    await expect(page.get_by_text("−30.00 EUR")).to_have_count(1)
    await asyncio.sleep(1.5)
    await expect(page.get_by_text("−30.00 EUR")).to_have_count(1)
    await shot(page, "offline", "4-history")


async def test_withdrawal_beyond_the_balance_is_refused_and_changes_nothing(
    phone, real_api_url: str
) -> None:
    dave = await register(await phone(), "Dave")
    await open_account(dave)
    await _deposit(dave, "20.00", "20.00 EUR")

    await move_money(dave.page, "Withdraw", "50.00")

    await expect(shows(dave.page, "Withdrawal of 50.00 EUR refused")).to_be_visible()
    await expect(shows(dave.page, re.compile("insufficient funds", re.I))).to_be_visible()
    await shot(dave.page, "refused", "1-result")
    balance, postings = await _bank_view(real_api_url, dave, expected=1)
    assert balance == 20_00
    assert [t["kind"] for t in postings] == ["deposit"]
    await tab(dave.page, "Home").click()
    await expect(shows(dave.page, "20.00 EUR")).to_be_visible()
    await shot(dave.page, "refused", "2-home")
