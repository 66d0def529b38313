"""The app's side of payees and account numbers (issue #17): numbers shown in groups,
the confirmation-of-payee answer in words (never a name), one list of payees from
the bank's and the device's, kept on the device for a cold start."""

from __future__ import annotations

import asyncio

import pytest

from client.account_numbers import compact, grouped, has_shape, shape_problem
from client.api import BankApi, Unreachable
from client.cache import OfflineCache
from client.controller import Controller
from client.payees import MATCH_MESSAGES, match_message, merge_payees
from client.state import AppState
from shared.api import PayeeResponse
from tests.support.device_store import DeviceMemory


def payee(number: str, nickname: str, match: str = "match") -> PayeeResponse:
    return PayeeResponse(account_number=number, nickname=nickname, name_match=match)


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("XN36NWBK000000000 1", "XN36 NWBK 0000 0000 01"),
        ("xn36-nwbk-0000-0000-01", "XN36 NWBK 0000 0000 01"),
        ("XN36 NWBK 0000 0000 01", "XN36 NWBK 0000 0000 01"),
    ],
)
def test_an_account_number_is_shown_in_groups_of_four(given: str, shown: str) -> None:
    assert grouped(given) == shown
    assert compact(shown) == "XN36NWBK0000000001"


def test_only_text_shaped_like_one_of_our_numbers_is_taken() -> None:
    assert has_shape("xn36 nwbk 0000 0000 01")
    assert not has_shape("XN36 NWBK 0000 0000 0")  # one short
    assert not has_shape("DE36 NWBK 0000 0000 01")
    assert not has_shape("3f2a9c1e-0000-4000-8000-000000000001")  # an internal id
    assert shape_problem("") == "Enter the recipient's account number"
    assert "starts with XN" in (shape_problem("12345") or "")
    assert shape_problem("XN36 NWBK 0000 0000 01") is None


def test_every_match_answer_is_said_in_words_without_a_name() -> None:
    assert match_message("match").title == "The name matches"
    assert match_message("close_match").title == "Close match — check the name with the payee"
    assert match_message("no_match").title.startswith("No match")
    assert "wrong person" in match_message("no_match").detail
    assert [m.tone for m in MATCH_MESSAGES.values()] == ["good", "warn", "bad"]
    # an answer this app version does not know is not taken as a match
    assert match_message("something_new").tone == "warn"
    for m in MATCH_MESSAGES.values():
        assert "did you mean" not in (m.title + m.detail).lower()


def test_the_banks_list_is_the_whole_truth_when_there_is_one() -> None:
    kept = [
        payee("XN36NWBK0000000001", "Old name", "no_match"),
        payee("XN09 NWBK 0000 0000 02", "Forgotten elsewhere"),
    ]
    listed = [payee("XN36 NWBK 0000 0000 01", "Bob", "match"), payee("XN12 X", "al")]
    merged = merge_payees(listed, kept)
    assert [(p.nickname, p.name_match) for p in merged] == [("al", "match"), ("Bob", "match")]
    assert merge_payees([], kept) == []


def test_without_the_banks_list_the_device_s_payees_are_one_per_number() -> None:
    kept = [payee("XN36NWBK0000000001", "Old", "no_match"), payee("XN09NWBK0000000002", "zed")]
    newer = payee("XN36 NWBK 0000 0000 01", "Bob", "match")
    merged = merge_payees(None, [*kept, newer])
    assert [(p.nickname, p.name_match) for p in merged] == [("Bob", "match"), ("zed", "match")]


def test_without_the_banks_list_the_payees_kept_and_added_are_offered() -> None:
    state = AppState("http://bank")
    state.set_payees(None, [payee("XN36 NWBK 0000 0000 01", "Bob")])
    assert not state.payees_listed
    state.add_payee(payee("XN36 NWBK 0000 0000 01", "Bobby", "close_match"))
    state.add_payee(payee("XN09 NWBK 0000 0000 02", "Ann"))
    assert [(p.nickname, p.name_match) for p in state.payees] == [
        ("Ann", "match"),
        ("Bobby", "close_match"),
    ]
    state.set_payees([payee("XN36 NWBK 0000 0000 01", "Bobby", "close_match")], state.payees)
    assert state.payees_listed
    state.remove_payee("XN36 NWBK 0000 0000 01")
    assert state.payees == []
    state.sign_out()
    assert state.payees == [] and not state.payees_listed


def test_payees_are_kept_on_the_device_per_customer_and_wiped_with_the_cache() -> None:
    async def story() -> None:
        device = DeviceMemory()
        cache = OfflineCache(device)
        await cache.save_payees("ada@example.com", [payee("XN36 NWBK 0000 0000 01", "Bob")])
        cold = OfflineCache(device)  # the app started again
        assert [p.nickname for p in await cold.payees("ada@example.com")] == ["Bob"]
        assert await cold.payees("eve@example.com") == []
        await cold.forget("ada@example.com")
        assert await OfflineCache(device).payees("ada@example.com") == []

    asyncio.run(story())


def test_a_snapshot_kept_before_payees_existed_still_loads() -> None:
    async def story() -> None:
        device = DeviceMemory()
        cache = OfflineCache(device)
        await cache.save_accounts("ada@example.com", [])
        key = next(iter(device.data))
        device.data[key] = device.data[key].replace(',"payees":[]', "")
        assert '"payees"' not in device.data[key]
        assert await OfflineCache(device).payees("ada@example.com") == []

    asyncio.run(story())


class SlowBank(BankApi):
    """The bank's API whose payee list answers only when told to (or never: the
    connection drops), so the app can add a payee while the list is being asked for."""

    def __init__(self) -> None:
        super().__init__("http://bank")
        self.asked = asyncio.Event()
        self.answer: asyncio.Future[list[PayeeResponse] | None] = asyncio.Future()

    async def payees(self) -> list[PayeeResponse] | None:
        self.asked.set()
        return await self.answer

    async def add_payee(
        self, account_number: str, holder_name: str, nickname: str
    ) -> PayeeResponse:
        return payee(account_number, nickname)


@pytest.mark.parametrize("outcome", ["unreachable", "listed before the add"])
def test_a_payee_added_while_the_list_is_asked_for_is_kept(outcome: str) -> None:
    async def scenario() -> list[str]:
        device = DeviceMemory()
        ctrl = Controller(AppState("http://bank"), device, cache=OfflineCache(device))
        ctrl.state.email = "ada@example.com"
        bank = ctrl.api = SlowBank()
        listing = asyncio.create_task(ctrl.load_payees())
        await bank.asked.wait()
        await ctrl.add_payee("XN36 NWBK 0000 0000 01", "erin example", "Erin")
        if outcome == "unreachable":
            bank.answer.set_exception(Unreachable("connection dropped"))
        else:
            bank.answer.set_result([])  # the bank's list as it was before the add
        await listing
        return [p.nickname for p in ctrl.state.payees]

    assert asyncio.run(scenario()) == ["Erin"]
