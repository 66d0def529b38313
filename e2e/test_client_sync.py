"""The app's sync engine (client.controller) against the real API, without a browser.

The same code runs behind every screen; here it is driven directly so that the
slow parts of the story (sessions ending, queued work across an app restart,
ordering) are checked quickly and exactly. The bank is reached through the
cuttable ``BankLink``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

import httpx

from client.controller import Controller
from client.state import QUEUE_KEY, AppState, decode_queue
from e2e.netlink import BankLink
from e2e.ui import PASSWORD
from shared.api import AccountResponse
from tests.support.device_store import DeviceMemory


async def eventually(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def new_customer(
    link: BankLink, device: DeviceMemory
) -> tuple[Controller, str, AccountResponse]:
    ctrl = Controller(AppState(link.url), device)
    email = f"erin.{uuid.uuid4().hex[:10]}@example.com"
    await ctrl.register(email, PASSWORD, "Erin Example")
    account = await ctrl.open_account("Everyday account", "EUR")
    return ctrl, email, account


async def bank_postings(
    api_url: str, email: str, account_id: uuid.UUID, expected: int
) -> tuple[int, list[dict]]:
    """The bank's balance and postings, once its history (a read model, eventually
    consistent) lists at least ``expected`` postings or 15 s have passed."""
    async with httpx.AsyncClient(base_url=f"{api_url}/api/v1", timeout=10) as http:
        tok = await http.post(
            "/auth/token", data={"grant_type": "password", "username": email, "password": PASSWORD}
        )
        auth = {"Authorization": f"Bearer {tok.json()['access_token']}"}
        deadline = time.monotonic() + 15
        while True:
            bal = (await http.get(f"/accounts/{account_id}/balance", headers=auth)).json()
            txs = (
                await http.get(f"/accounts/{account_id}/transactions?limit=100", headers=auth)
            ).json()
            if len(txs["items"]) >= expected or time.monotonic() > deadline:
                return bal["balance"]["amount"], txs["items"]
            await asyncio.sleep(0.2)


async def test_queued_movements_are_sent_in_order_each_with_its_outcome(
    link: BankLink, real_api_url: str
) -> None:
    ctrl, email, account = await new_customer(link, DeviceMemory())
    try:
        link.down()
        await eventually(lambda: not ctrl.state.online)

        queued = [
            await ctrl.move("deposit", account, 10_00),
            await ctrl.move("withdrawal", account, 15_00),  # more than there will be
            await ctrl.move("withdrawal", account, 5_00),
        ]
        assert [q.status for q in queued] == ["pending", "pending", "pending"]

        link.up()
        await eventually(lambda: all(q.finished for q in queued))

        assert [q.status for q in queued] == ["done", "rejected", "done"]
        assert "insufficient funds" in queued[1].reason.lower()
        assert ctrl.state.accounts[account.id].balance.amount == 5_00
        balance, postings = await bank_postings(real_api_url, email, account.id, expected=2)
        assert balance == 5_00
        assert sorted((t["kind"], t["amount"]["amount"]) for t in postings) == [
            ("deposit", 10_00),
            ("withdrawal", 5_00),
        ]
    finally:
        await ctrl.close()


async def test_tokens_are_refreshed_silently(link: BankLink) -> None:
    ctrl, _, _ = await new_customer(link, DeviceMemory())
    try:
        tokens = ctrl.api.tokens
        assert tokens is not None and tokens.refresh_token, "the API gives a refresh token"
        old = tokens.access_token
        tokens.expires_at = time.monotonic()  # as if 15 minutes had passed

        await ctrl.refresh_accounts()

        assert ctrl.state.signed_in
        assert ctrl.api.tokens is not None and ctrl.api.tokens.access_token != old
    finally:
        await ctrl.close()


async def test_an_ended_session_returns_to_sign_in_and_keeps_queued_work(
    link: BankLink, real_api_url: str
) -> None:
    device = DeviceMemory()
    ctrl, email, account = await new_customer(link, device)
    try:
        await ctrl.move("deposit", account, 100_00)
        link.down()
        await eventually(lambda: not ctrl.state.online)
        item = await ctrl.move("withdrawal", account, 40_00)
        assert item.status == "pending"

        # Meanwhile the customer signs out everywhere from another device.
        async with httpx.AsyncClient(base_url=f"{real_api_url}/api/v1", timeout=10) as http:
            tok = await http.post(
                "/auth/token",
                data={"grant_type": "password", "username": email, "password": PASSWORD},
            )
            auth = {"Authorization": f"Bearer {tok.json()['access_token']}"}
            for s in (await http.get("/auth/sessions", headers=auth)).json()["items"]:
                if not s["current"]:
                    assert (await http.delete(f"/auth/sessions/{s['id']}", headers=auth)).is_success

        link.up()
        await eventually(lambda: not ctrl.state.signed_in)
        assert "queued payment" in ctrl.state.notice
        stored = decode_queue(device.data[QUEUE_KEY])
        assert [(q.key, q.status) for q in stored] == [(item.key, "pending")]
    finally:
        await ctrl.close()

    # The app starts again on the same device; the customer signs in; the queue goes out.
    again = Controller(AppState(link.url), device)
    try:
        await again.load_queue()
        await again.sign_in(email, PASSWORD)
        await eventually(lambda: all(q.finished for q in again.state.queue))
        assert [(q.key, q.status) for q in again.state.queue] == [(item.key, "done")]
        balance, postings = await bank_postings(real_api_url, email, account.id, expected=2)
        assert balance == 60_00
        assert [t["amount"]["amount"] for t in postings if t["kind"] == "withdrawal"] == [40_00]
    finally:
        await again.close()


async def test_a_payment_to_a_payee_queued_offline_is_sent_once_and_the_payees_are_kept(
    link: BankLink, real_api_url: str
) -> None:
    """Payees are kept on the device like accounts; a payment to a payee's number made
    while the bank is unreachable is queued with its key and sent exactly once, even
    when the answer to the first attempt is lost."""
    payee_ctrl, payee_email, payee_account = await new_customer(link, DeviceMemory())
    await payee_ctrl.close()
    assert payee_account.account_number is not None
    device = DeviceMemory()
    ctrl, email, account = await new_customer(link, device)
    try:
        await ctrl.move("deposit", account, 50_00)
        added = await ctrl.add_payee(payee_account.account_number, "erin example", "Erin")
        assert added.name_match == "match"
        assert [p.nickname for p in ctrl.state.payees] == ["Erin"]
        assert [p.nickname for p in await ctrl.cache.payees(email)] == ["Erin"]

        link.down()
        await eventually(lambda: not ctrl.state.online)
        await ctrl.load_payees()  # unreachable: the kept payees are still offered
        assert [p.nickname for p in ctrl.state.payees] == ["Erin"]
        item = await ctrl.move(
            "transfer",
            account,
            20_00,
            "rent",
            to_account_number=added.account_number,
            to_name="Erin",
        )
        assert item.status == "pending"
        stored = decode_queue(device.data[QUEUE_KEY])
        assert [(q.key, q.to_account_number) for q in stored if not q.finished] == [
            (item.key, added.account_number)
        ]

        link.lose_next_response("/transfers/by-account-number")
        link.up()
        await eventually(lambda: item.finished)
        assert item.status == "done", item.reason
        assert link.lost_responses == 1
        assert link.count("/transfers/by-account-number") >= 2
        balance, _ = await bank_postings(real_api_url, email, account.id, expected=2)
        assert balance == 30_00
        got, postings = await bank_postings(real_api_url, payee_email, payee_account.id, 1)
        assert got == 20_00
        assert [t["amount"]["amount"] for t in postings if t["kind"] == "transfer_in"] == [20_00]
    finally:
        await ctrl.close()
