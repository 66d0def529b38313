"""The projection worker names the other side of every pushed transfer by its number
(server/adapters/account_numbers.KnownAccountNumbers): an account met once is not
looked up again, and what is kept is bounded. No database: a registry that answers
from a dict and counts its queries."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any
from uuid import UUID

from server.adapters.account_numbers import KnownAccountNumbers

ALICE, BOB, CAROL, NOBODY = (uuid.uuid4() for _ in range(4))
REGISTRY = {ALICE: "XN07NWBK0000000001", BOB: "XN77NWBK0000000002", CAROL: "XN50NWBK0000000003"}


class Registry:
    def __init__(self) -> None:
        self.asked: list[set[UUID]] = []

    async def fetch(self, query: str, ids: Iterable[UUID]) -> list[dict[str, Any]]:
        self.asked.append(set(ids))
        return [{"account_id": a, "account_number": REGISTRY[a]} for a in ids if a in REGISTRY]


async def test_an_account_met_once_is_not_looked_up_again() -> None:
    registry, known = Registry(), KnownAccountNumbers()
    assert await known.of(registry, [ALICE, BOB]) == {  # type: ignore[arg-type]
        ALICE: "XN07 NWBK 0000 0000 01",
        BOB: "XN77 NWBK 0000 0000 02",
    }
    assert await known.of(registry, [BOB]) == {BOB: "XN77 NWBK 0000 0000 02"}  # type: ignore[arg-type]
    assert await known.of(registry, [BOB, CAROL]) == {  # type: ignore[arg-type]
        BOB: "XN77 NWBK 0000 0000 02",
        CAROL: "XN50 NWBK 0000 0000 03",
    }
    assert registry.asked == [{ALICE, BOB}, {CAROL}]  # only what was not known yet


async def test_an_account_without_a_number_is_left_out_and_asked_again() -> None:
    registry, known = Registry(), KnownAccountNumbers()
    assert await known.of(registry, [NOBODY]) == {}  # type: ignore[arg-type]
    assert await known.of(registry, [NOBODY]) == {}  # type: ignore[arg-type]
    assert registry.asked == [{NOBODY}, {NOBODY}]


async def test_what_is_kept_is_bounded() -> None:
    registry, known = Registry(), KnownAccountNumbers(limit=2)
    await known.of(registry, [ALICE, BOB])
    await known.of(registry, [CAROL])  # a third: the kept ones go first
    await known.of(registry, [ALICE])
    assert registry.asked == [{ALICE, BOB}, {CAROL}, {ALICE}]
