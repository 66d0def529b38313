"""What the app offers follows what the bank says of the user (GET /me): a customer of a
bank without development top-ups is not offered Deposit, which would be refused."""

from __future__ import annotations

import asyncio
import uuid

import msgspec

from client.api import BankApi
from client.cache import OfflineCache
from client.controller import Controller
from client.state import AppState
from shared.security import ProfileResponse
from tests.support.device_store import DeviceMemory


class Bank(BankApi):
    def __init__(self, can_deposit: bool) -> None:
        super().__init__("http://bank")
        self.can_deposit = can_deposit

    async def profile(self) -> ProfileResponse | None:
        return ProfileResponse(
            id=uuid.uuid4(),
            email="ada@example.com",
            full_name="Ada Example",
            role="customer",
            can_deposit=self.can_deposit,
        )


def offered(can_deposit: bool) -> tuple[list[str], list[str]]:
    async def story() -> tuple[list[str], list[str]]:
        device = DeviceMemory()
        ctrl = Controller(AppState("http://bank"), device, cache=OfflineCache(device))
        assert ctrl.state.movement_kinds() == ["deposit", "withdrawal", "transfer"]  # unknown
        seen: list[str] = []
        ctrl.state.listen(lambda topic, _: seen.append(topic))
        ctrl.api = Bank(can_deposit)
        await ctrl._load_profile()
        return list(ctrl.state.movement_kinds()), seen

    return asyncio.run(story())


def test_deposit_is_offered_only_where_the_bank_takes_the_users_deposits() -> None:
    assert offered(False) == (["withdrawal", "transfer"], ["profile"])
    assert offered(True) == (["deposit", "withdrawal", "transfer"], ["profile"])  # the name


def test_a_profile_without_the_field_means_deposits_are_taken() -> None:
    old = b'{"id": "%s", "email": "a@b.c", "full_name": "A", "role": "customer"}' % (
        str(uuid.uuid4()).encode()
    )
    assert msgspec.json.decode(old, type=ProfileResponse).can_deposit is True


def test_the_device_keeps_what_the_bank_said_for_a_cold_start_offline() -> None:
    async def story() -> tuple[bool, bool]:
        device = DeviceMemory()
        ctrl = Controller(AppState("http://bank"), device, cache=OfflineCache(device))
        ctrl.state.email = "ada@example.com"
        ctrl.api = Bank(can_deposit=False)
        await ctrl._load_profile()
        await ctrl._remember_accounts()
        kept = await OfflineCache(device).load("ada@example.com")
        assert kept is not None
        await OfflineCache(device).save_accounts("ada@example.com", [])  # a save without it
        again = await OfflineCache(device).load("ada@example.com")
        assert again is not None
        return kept.can_deposit, again.can_deposit

    assert asyncio.run(story()) == (False, False)
