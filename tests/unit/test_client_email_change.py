"""A customer's email changes (here or on another device): what the device keeps under the
old one (queued payments, the offline cache, a kept session) is theirs under the new."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from client.api import BankApi
from client.cache import OfflineCache, cache_key
from client.controller import Controller
from client.state import AppState, QueuedMovement
from client.unlock import SessionVault
from shared.security import ProfileResponse
from tests.support.device_store import DeviceMemory
from tests.unit.test_client_unlock import (
    REFRESH,
    FakeDeviceAuth,
    FakeSecureStorage,
    OfflineApi,
    account,
    pin_vault,
)

OLD, NEW = "ada@example.com", "ada@example.net"


async def test_a_pin_kept_session_is_sealed_again_to_the_new_email() -> None:
    vault, _ = await pin_vault()  # kept with the PIN in this run: its key is known
    await vault.moved(OLD, NEW)
    vault.lock()
    assert (await vault.unlock_with_pin("482916")).refresh_token == REFRESH
    stored = await vault.stored()
    assert stored is not None and stored.email == NEW


async def test_without_the_pins_key_the_kept_session_goes() -> None:
    vault, storage = await pin_vault()
    vault.lock()  # signed in with the password this run: the PIN's key is not known
    await vault.moved(OLD, NEW)
    assert await vault.stored() is None and not storage.data


async def test_a_device_kept_session_names_the_new_email_and_another_customers_is_left() -> None:
    vault = SessionVault(FakeSecureStorage(), FakeDeviceAuth())
    assert await vault.remember_with_device(OLD, "Ada L", "http://bank", REFRESH)
    await vault.moved("someone@example.com", NEW)
    assert (stored := await vault.stored()) is not None and stored.email == OLD
    await vault.moved(OLD.upper(), NEW)
    assert (stored := await vault.stored()) is not None and stored.email == NEW
    assert await vault.unlock_with_device("Unlock") == REFRESH


async def test_the_offline_cache_moves_to_the_new_email() -> None:
    device = DeviceMemory()
    cache = OfflineCache(device)
    await cache.save_accounts(OLD, [], "Ada L")
    await cache.move(OLD, NEW)
    fresh = OfflineCache(device)  # a new app run
    assert (snap := await fresh.load(NEW)) is not None and snap.full_name == "Ada L"
    assert await fresh.load(OLD) is None and device.data[cache_key(OLD)] == ""
    await fresh.move(NEW, NEW.upper())  # the same address: nothing to move, nothing lost
    assert await OfflineCache(device).load(NEW) is not None


class MovedBank(BankApi):
    """The bank says the email is now NEW (changed on another device)."""

    def __init__(self) -> None:
        super().__init__("http://bank")

    async def profile(self) -> ProfileResponse | None:
        return ProfileResponse(id=uuid.uuid4(), email=NEW, full_name="Ada L", role="customer")


async def test_an_email_changed_on_another_device_moves_what_this_one_keeps() -> None:
    device = DeviceMemory()
    vault = SessionVault(FakeSecureStorage(), FakeDeviceAuth())
    await vault.remember_with_device(OLD, "Ada L", "http://bank", REFRESH)
    ctrl = Controller(AppState("http://bank"), device, vault, OfflineCache(device))
    ctrl.state.email = OLD
    await ctrl.cache.save_accounts(OLD, [], "Ada L")
    queued = QueuedMovement(
        key=str(uuid.uuid4()),
        owner=OLD,
        kind="withdrawal",
        account_id=uuid.uuid4(),
        amount=10_00,
        currency="EUR",
        queued_at=datetime.now(UTC),
    )
    ctrl.state.enqueue(queued)
    ctrl.api = MovedBank()
    try:
        await ctrl._load_profile()
        assert ctrl.state.email == NEW
        assert ctrl.state.pending() == [queued] and queued.owner == NEW  # still sent, as hers
        await ctrl.load_queue()  # as persisted
        assert [q.owner for q in ctrl.state.queue] == [NEW]
        assert await OfflineCache(device).load(NEW) is not None
        assert (stored := await vault.stored()) is not None and stored.email == NEW
    finally:
        await ctrl.close()


class SameCustomerBank(BankApi):
    """The bank's answer to a customer (by default: who signed in with the new email)."""

    def __init__(self, user_id: uuid.UUID, email: str = NEW) -> None:
        super().__init__("http://bank")
        self.user_id, self.email = user_id, email

    async def profile(self) -> ProfileResponse | None:
        return ProfileResponse(
            id=self.user_id, email=self.email, full_name="Ada L", role="customer"
        )


async def test_payments_queued_under_the_old_email_are_sent_after_signing_in_with_the_new() -> None:
    """This device never heard of the change: its session ended, and the customer signed
    in again with the new email. What she queued (with her user id) is still hers."""
    device = DeviceMemory()
    ctrl = Controller(AppState("http://bank"), device, cache=OfflineCache(device))
    ada_id = uuid.uuid4()

    def queued(owner_id: uuid.UUID | None) -> QueuedMovement:
        return QueuedMovement.new(OLD, "withdrawal", uuid.uuid4(), 5_00, "EUR", owner_id=owner_id)

    hers, unknown, someone_elses = queued(ada_id), queued(None), queued(uuid.uuid4())
    for item in (hers, unknown, someone_elses):
        ctrl.state.enqueue(item)
    ctrl.state.email = NEW  # signed in with the new email
    ctrl.api = SameCustomerBank(ada_id)
    try:
        assert ctrl.state.pending() == []
        await ctrl._load_profile()
        assert ctrl.state.user_id == ada_id
        assert ctrl.state.pending() == [hers]  # an id it never knew, or another's: not hers
        await ctrl.load_queue()  # as persisted
        assert [q.owner for q in ctrl.state.queue] == [NEW, OLD, OLD]
    finally:
        await ctrl.close()


async def test_a_payment_queued_on_a_cold_start_offline_carries_the_customers_id() -> None:
    """The device keeps the id the bank said with its offline copy, so a payment queued
    before the bank answers (a cold start offline) is hers whatever her email becomes."""
    device = DeviceMemory()
    vault, _ = await pin_vault()  # a session kept for OLD
    ada_id, acc = uuid.uuid4(), uuid.uuid4()
    online = Controller(AppState("http://bank"), device, vault, OfflineCache(device))
    online.state.email = OLD
    online.api = SameCustomerBank(ada_id, OLD)
    try:
        await online._load_profile()
        await online.cache.save_accounts(OLD, [account(2, 50_00, acc)])
    finally:
        await online.close()
    kept = await OfflineCache(device).load(OLD)
    assert kept is not None and kept.user_id == ada_id

    cold = Controller(AppState("http://bank"), device, vault, OfflineCache(device))
    cold.api = OfflineApi()  # type: ignore[assignment]
    stored = await vault.stored()
    assert stored is not None
    try:
        await cold.resume(stored, (await vault.unlock_with_pin("482916")).refresh_token or "")
        assert not cold.state.online and cold.state.user_id == ada_id
        item = await cold.move("withdrawal", cold.state.accounts[acc], 5_00)
        assert item.deferred and (item.owner, item.owner_id) == (OLD, ada_id)
    finally:
        await cold.close()
