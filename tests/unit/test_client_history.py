"""The history and the inbox the app shows and keeps: a page the bank answered, and what
was pushed while it was on its way (client/history.py, AppState.set_notifications,
OfflineCache.save_history, keep_recent and recent)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest

from client.api import BankApi, Unreachable
from client.cache import OfflineCache
from client.controller import Controller
from client.history import known_after_push, moved_past, with_pushed
from client.state import AppState
from shared.api import AccountResponse, RecentTransactions, TransactionResponse
from shared.money import Money
from shared.notifications import Notification
from tests.support.device_store import DeviceMemory

ACCOUNT = uuid.UUID(int=1)
OTHER = uuid.UUID(int=2)


def posting(
    version: int, account_id: uuid.UUID = ACCOUNT, tx: int | None = None
) -> TransactionResponse:
    return TransactionResponse(
        transaction_id=uuid.UUID(int=100 + (version if tx is None else tx)),
        account_id=account_id,
        kind="deposit",
        amount=Money(amount=1_00, currency="EUR"),
        balance_after=Money(amount=version * 1_00, currency="EUR"),
        occurred_at=datetime(2026, 12, 7, 12, 0, version, tzinfo=UTC),
        version=version,
    )


def account(account_id: uuid.UUID, version: int) -> AccountResponse:
    return AccountResponse(
        id=account_id,
        name="Everyday",
        currency="EUR",
        status="active",
        balance=Money(amount=0, currency="EUR"),
        version=version,
        owner_id=uuid.UUID(int=9),
    )


def versions(items: list[TransactionResponse]) -> list[int]:
    return [t.version for t in items]


def test_postings_pushed_while_the_page_came_stay_in_front_of_it() -> None:
    # the bank answered from a read model that had only version 2; 3 and 4 were pushed
    shown = with_pushed([posting(2)], [posting(4), posting(3)])
    assert versions(shown) == [4, 3, 2]


def test_a_pushed_posting_the_page_holds_is_shown_once() -> None:
    shown = with_pushed([posting(3), posting(2)], [posting(3)])
    assert versions(shown) == [3, 2]


def test_a_transfer_between_own_accounts_is_two_postings_of_one_transaction() -> None:
    out = posting(2, ACCOUNT, tx=7)
    into = posting(5, OTHER, tx=7)
    assert len(with_pushed([out], [into])) == 2


def test_a_posting_older_than_the_page_is_not_put_in_front_of_it() -> None:
    # kept from an earlier page: the new page has moved past it
    assert versions(with_pushed([posting(5), posting(4)], [posting(3)])) == [5, 4]


def test_nothing_pushed_is_the_page_as_answered() -> None:
    page = [posting(5), posting(3), posting(4)]  # the bank's order is kept
    assert versions(with_pushed(page, [])) == [5, 3, 4]


def test_an_account_past_what_the_list_knows_has_moved() -> None:
    accounts = [account(ACCOUNT, 4), account(OTHER, 2)]
    assert moved_past(accounts, {ACCOUNT: 4, OTHER: 2}) == []
    assert moved_past(accounts, {ACCOUNT: 3, OTHER: 2}) == [accounts[0]]
    assert moved_past(accounts, {ACCOUNT: 4}) == [accounts[1]]  # never asked: moved


def test_a_pushed_posting_extends_what_the_list_knows_only_if_it_is_the_next() -> None:
    # the bank pushes an account's latest posting once per batch: 3 may never be pushed
    assert known_after_push(2, posting(3)) == 3
    assert known_after_push(2, posting(4)) == 2  # 3 is missing: the list must ask
    assert known_after_push(4, posting(3)) == 4  # a late push of what it has


def notice(n: int, read: bool = False) -> Notification:
    return Notification(
        id=n,
        kind="money_received",
        title="Money received",
        body="",
        occurred_at=datetime(2026, 12, 7, 12, 0, n, tzinfo=UTC),
        read=read,
    )


def test_a_notification_pushed_while_the_inbox_page_came_is_kept_and_counted() -> None:
    state = AppState("http://bank")
    state.add_notification(notice(7))  # pushed; the bank answered before it had it
    state.set_notifications([notice(6), notice(5, read=True)], unread=1)
    assert [n.id for n in state.notifications] == [7, 6, 5]
    assert state.unread == 2


def test_the_inbox_page_replaces_what_it_holds() -> None:
    state = AppState("http://bank")
    state.set_notifications([notice(6), notice(5)], unread=2)
    state.set_notifications([notice(6, read=True), notice(5, read=True)], unread=0)
    assert [(n.id, n.read) for n in state.notifications] == [(6, True), (5, True)]
    assert state.unread == 0


def test_the_kept_first_page_keeps_a_posting_pushed_while_the_page_came() -> None:
    async def keep() -> list[int]:
        device = DeviceMemory()
        cache = OfflineCache(device)
        await cache.save_history("ada@example.com", ACCOUNT, [posting(2)])
        await cache.add_transaction("ada@example.com", posting(4))  # pushed meanwhile
        await cache.save_history("ada@example.com", ACCOUNT, [posting(3), posting(2)])
        snap = await OfflineCache(device).load("ada@example.com")  # a cold start
        assert snap is not None
        return versions(snap.history[ACCOUNT])

    assert asyncio.run(keep()) == [4, 3, 2]


def test_recent_activity_becomes_the_kept_page_only_of_an_account_without_one() -> None:
    async def keep() -> tuple[list[int], list[int], list[tuple[uuid.UUID, int]]]:
        device = DeviceMemory()
        cache = OfflineCache(device)
        await cache.save_history("ada@example.com", ACCOUNT, [posting(3), posting(2)])
        # recent activity: the other account's newest two, and this one's newest (which
        # a push would have added to its kept page)
        recent = [posting(9, OTHER), posting(5), posting(8, OTHER)]
        await cache.keep_recent("ada@example.com", recent)
        snap = await OfflineCache(device).load("ada@example.com")  # a cold start
        assert snap is not None
        newest = await OfflineCache(device).recent("ada@example.com", 3)
        assert newest is not None
        return (
            versions(snap.history[ACCOUNT]),
            versions(snap.history[OTHER]),
            [(t.account_id, t.version) for t in newest],
        )

    kept, other, newest = asyncio.run(keep())
    assert kept == [3, 2]  # left as it was: postings between 3 and 5 may be missing
    assert other == [9, 8]
    assert newest == [(OTHER, 9), (OTHER, 8), (ACCOUNT, 3)]  # by time, over both


def test_no_kept_history_is_no_recent_activity_offline() -> None:
    assert asyncio.run(OfflineCache(DeviceMemory()).recent("ada@example.com", 6)) is None


class RecentBank(BankApi):
    """The bank's recent-activity answer, or no answer at all (the connection dropped)."""

    def __init__(self, items: list[TransactionResponse]) -> None:
        super().__init__("http://bank")
        self.items = items
        self.reachable = True

    async def recent_transactions(self, *, limit: int) -> RecentTransactions:
        if not self.reachable:
            raise Unreachable("connection dropped")
        return RecentTransactions(items=self.items[:limit])


def test_recent_activity_offline_is_what_the_app_kept_when_it_last_had_the_bank() -> None:
    async def story() -> tuple[list[int], list[int]]:
        device = DeviceMemory()
        ctrl = Controller(AppState("http://bank"), device, cache=OfflineCache(device))
        ctrl.state.email = "ada@example.com"
        bank = ctrl.api = RecentBank([posting(9, OTHER), posting(5), posting(8, OTHER)])
        online = versions(await ctrl.recent_transactions(3))
        bank.reachable = False
        again = Controller(AppState("http://bank"), device, cache=OfflineCache(device))
        again.state.email = "ada@example.com"  # the app started again, without the bank
        again.api = bank
        return online, versions(await again.recent_transactions(2))

    online, offline = asyncio.run(story())
    assert online == [9, 5, 8]
    assert offline == [9, 8]  # the newest kept, by time


def test_recent_activity_offline_with_nothing_kept_says_the_bank_is_unreachable() -> None:
    async def story() -> None:
        device = DeviceMemory()
        ctrl = Controller(AppState("http://bank"), device, cache=OfflineCache(device))
        ctrl.state.email = "ada@example.com"
        bank = ctrl.api = RecentBank([])
        bank.reachable = False
        with pytest.raises(Unreachable):
            await ctrl.recent_transactions(6)

    asyncio.run(story())
