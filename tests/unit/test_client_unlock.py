"""Staying signed in on the device (client/unlock.py, client/cache.py, client/state.py),
with fakes of the secure storage, the device's biometrics and the bank's link."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from client.api import Unreachable
from client.cache import OfflineCache, cache_key
from client.controller import Controller
from client.device_security import DeviceStoreSecrets
from client.state import AppState
from client.unlock import MAX_PIN_FAILURES, VAULT_KEY, InvalidPinError, SessionVault
from shared.api import AccountResponse, TransactionPage, TransactionResponse
from shared.money import Money
from tests.support.device_store import DeviceMemory

REFRESH = "refresh-token-1"


class FakeSecureStorage(DeviceMemory):
    """The SecretStore port as an OS keystore would behave."""

    protection = "fake keystore"
    hardware_backed = True

    async def delete(self, key: str) -> None:
        self.data.pop(key, None)


class FakeDeviceAuth:
    def __init__(self, present: bool = True, accept: bool = True) -> None:
        self.present, self.accept, self.asked = present, accept, 0

    async def available(self) -> bool:
        return self.present

    async def authenticate(self, reason: str) -> bool:
        self.asked += 1
        return self.accept


async def pin_vault() -> tuple[SessionVault, FakeSecureStorage]:
    storage = FakeSecureStorage()
    vault = SessionVault(storage, FakeDeviceAuth(present=False))
    await vault.remember_with_pin("ada@example.com", "Ada L", "http://bank", REFRESH, "482916")
    return vault, storage


async def test_the_right_pin_unlocks_the_kept_refresh_token() -> None:
    vault, storage = await pin_vault()
    assert REFRESH not in storage.data[VAULT_KEY]  # sealed, not kept in clear
    vault.lock()  # the app was closed

    result = await vault.unlock_with_pin("482916")

    assert result.refresh_token == REFRESH
    stored = await vault.stored()
    assert stored is not None and stored.full_name == "Ada L" and stored.failures == 0


async def test_five_wrong_pins_drop_the_kept_session() -> None:
    vault, storage = await pin_vault()
    vault.lock()
    for left in range(MAX_PIN_FAILURES - 1, 0, -1):
        result = await vault.unlock_with_pin("000000")
        assert (result.refresh_token, result.remaining, result.dropped) == (None, left, False)
    assert (await vault.stored()) is not None

    result = await vault.unlock_with_pin("000000")

    assert result.dropped and result.refresh_token is None
    assert await vault.stored() is None and not storage.data
    assert (await vault.unlock_with_pin("482916")).refresh_token is None  # the password now


async def test_wrong_pins_count_across_launches_and_a_right_one_resets_the_count() -> None:
    vault, storage = await pin_vault()
    for _ in range(3):
        await vault.unlock_with_pin("111111")
    relaunched = SessionVault(storage, FakeDeviceAuth(present=False))  # a new app run
    assert (await relaunched.unlock_with_pin("222222")).remaining == 1
    assert (await relaunched.unlock_with_pin("482916")).refresh_token == REFRESH
    assert (await relaunched.unlock_with_pin("333333")).remaining == MAX_PIN_FAILURES - 1


async def test_a_rotated_refresh_token_is_sealed_again_with_the_same_pin() -> None:
    vault, storage = await pin_vault()
    await vault.rotated("refresh-token-2")
    vault.lock()
    assert (await vault.unlock_with_pin("482916")).refresh_token == "refresh-token-2"


def test_a_pin_is_four_to_eight_digits() -> None:
    from client.unlock import check_pin

    for bad in ("123", "123456789", "12a4", ""):
        with pytest.raises(InvalidPinError):
            check_pin(bad)
    check_pin("1234")


async def test_device_unlock_only_where_the_token_sits_in_the_keystore() -> None:
    auth = FakeDeviceAuth()
    vault = SessionVault(FakeSecureStorage(), auth)
    assert await vault.remember_with_device("a@x.io", "A", "http://bank", REFRESH)
    assert await vault.unlock_with_device("Unlock") == REFRESH
    auth.accept = False
    assert await vault.unlock_with_device("Unlock") is None
    assert auth.asked == 2

    # Browser storage is no keystore: no biometric shortcut around the PIN there.
    plain = SessionVault(DeviceStoreSecrets(DeviceMemory()), FakeDeviceAuth())
    assert not await plain.device_unlock_possible()
    assert not await plain.remember_with_device("a@x.io", "A", "http://bank", REFRESH)


def account(version: int, amount: int, account_id: uuid.UUID) -> AccountResponse:
    return AccountResponse(
        id=account_id,
        name="Everyday",
        currency="EUR",
        status="active",
        balance=Money(amount=amount, currency="EUR"),
        version=version,
        owner_id=uuid.uuid4(),
    )


def test_reconciling_never_shows_an_older_balance_than_one_already_shown() -> None:
    acc = uuid.uuid4()
    state = AppState("http://bank")
    seen = datetime.now(UTC) - timedelta(hours=3)
    state.show_cached([account(7, 70_00, acc)], seen)
    assert state.as_of == seen and state.accounts[acc].balance.amount == 70_00

    # The bank is back, but its read model has not caught up with version 7 yet.
    state.set_accounts([account(6, 100_00, acc)])
    assert state.accounts[acc].version == 7 and state.accounts[acc].balance.amount == 70_00
    assert state.as_of is None  # the bank answered: no longer "as of"
    assert not state.apply_balance(acc, Money(amount=1, currency="EUR"), 5)

    state.set_accounts([account(8, 40_00, acc)])
    assert state.accounts[acc].balance.amount == 40_00
    # An older copy from the device never replaces a newer one on screen.
    state.show_cached([account(7, 70_00, acc)], seen)
    assert state.accounts[acc].balance.amount == 40_00


async def test_the_cache_keeps_the_newest_version_and_is_wiped_per_customer() -> None:
    device = DeviceMemory()
    cache = OfflineCache(device)
    acc = uuid.uuid4()
    await cache.save_accounts("ada@example.com", [account(5, 50_00, acc)], "Ada L")
    await cache.save_accounts("ada@example.com", [account(4, 10_00, acc)])
    fresh = OfflineCache(device)  # a new app run reads it back
    snap = await fresh.load("Ada@Example.com".lower())
    assert snap is not None and snap.full_name == "Ada L"
    assert [(a.version, a.balance.amount) for a in snap.accounts] == [(5, 50_00)]
    await fresh.forget("ada@example.com")
    assert device.data[cache_key("ada@example.com")] == ""
    assert await OfflineCache(device).load("ada@example.com") is None


class OfflineApi:
    """The bank's API as seen with no connection (the connectivity fake)."""

    def __init__(self) -> None:
        self.tokens = None
        self.on_refresh_token = None

    def resume(self, token: str) -> None:
        self.resumed = token

    async def transactions(self, *a: object, **k: object) -> TransactionPage:
        raise Unreachable("no route to the bank")

    async def accounts(self) -> list[AccountResponse]:
        raise Unreachable("no route to the bank")

    async def aclose(self) -> None:
        return None


async def test_a_cold_start_offline_shows_what_the_device_kept() -> None:
    device = DeviceMemory()
    vault, _ = await pin_vault()
    acc = uuid.uuid4()
    cache = OfflineCache(device)
    await cache.save_accounts("ada@example.com", [account(3, 30_00, acc)], "Ada L")
    tx = TransactionResponse(
        transaction_id=uuid.uuid4(),
        account_id=acc,
        kind="deposit",
        amount=Money(amount=30_00, currency="EUR"),
        balance_after=Money(amount=30_00, currency="EUR"),
        version=3,
        occurred_at=datetime.now(UTC),
    )
    await cache.save_history("ada@example.com", acc, [])
    await cache.add_transaction("ada@example.com", tx)  # pushed after the page was kept
    await cache.add_transaction("ada@example.com", tx)  # and again: kept once
    ctrl = Controller(AppState("http://bank"), device, vault, OfflineCache(device))
    ctrl.api = OfflineApi()  # type: ignore[assignment]
    stored = await vault.stored()
    assert stored is not None
    try:
        await ctrl.resume(stored, (await vault.unlock_with_pin("482916")).refresh_token or "")
        assert ctrl.state.signed_in and ctrl.state.full_name == "Ada L"
        assert ctrl.state.accounts[acc].balance.amount == 30_00 and ctrl.state.as_of is not None
        page = await ctrl.transactions(acc)
        assert [t.transaction_id for t in page.items] == [tx.transaction_id]
        with pytest.raises(Unreachable):  # filtered or later pages are not kept
            await ctrl.transactions(acc, kind="deposit")
        await asyncio.sleep(0)
        assert not ctrl.state.online
    finally:
        await ctrl.close()


class UnansweringDevice(DeviceMemory):
    """A device store that stopped answering: every write times out (seen in the browser
    on a loaded host), reads still work."""

    async def set(self, key: str, value: str) -> None:
        raise TimeoutError


async def test_signing_out_signs_out_even_when_the_device_store_does_not_answer() -> None:
    device = UnansweringDevice()
    vault = SessionVault(DeviceStoreSecrets(device), FakeDeviceAuth(present=False))
    ctrl = Controller(AppState("http://bank"), device, vault, OfflineCache(device))
    ctrl.state.email, ctrl.state.full_name = "ada@example.com", "Ada L"
    try:
        await ctrl.sign_out()
        assert not ctrl.state.signed_in  # the screen goes back to sign-in all the same
        ctrl.state.email = "ada@example.com"
        ctrl._expired()  # the bank refused the tokens: the wipe runs in the background
        await asyncio.gather(*ctrl._tasks)  # and ends without an exception
        assert not ctrl.state.signed_in
    finally:
        await ctrl.close()
