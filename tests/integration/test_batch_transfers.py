"""POST /api/v1/transfers/batch: many transfers, one transaction, one outcome per item."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import httpx
import msgspec

from shared.events import event_decoder
from shared.topics import topic_for_stream_type
from tests.support.customers import Customer, sign_up


def item(source: str, target: str, amount: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "from_account_id": source,
        "to_account_id": target,
        "amount": amount,
        **extra,
    }


async def batch(who: Customer, items: list[dict[str, Any]]) -> httpx.Response:
    return await who.http.post(
        "/api/v1/transfers/batch", json={"transfers": items}, headers=who.auth
    )


async def funded(http: httpx.AsyncClient, name: str, *amounts: int) -> tuple[Customer, list[str]]:
    who = await sign_up(http, name)
    accounts = []
    for i, amount in enumerate(amounts):
        account = (await who.open_account(name=f"Pot {i}"))["id"]
        if amount:
            assert (await who.deposit(account, amount)).status_code == 201
        accounts.append(account)
    return who, accounts


async def test_a_batch_moves_money_and_answers_per_item(
    http: httpx.AsyncClient, db: asyncpg.Pool
) -> None:
    ada, (a, b, c) = await funded(http, "Ada Batch", 1_000, 0, 0)
    items = [item(a, b, 100), item(b, c, 40), item(a, c, 10)]

    r = await batch(ada, items)

    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["created"], body["replayed"], body["rejected"]) == (3, 0, 0)
    assert [x["id"] for x in body["results"]] == [i["id"] for i in items]
    assert [x["balance"]["amount"] for x in body["results"]] == [900, 60, 890]
    assert (await ada.balance(a), await ada.balance(b), await ada.balance(c)) == (890, 60, 50)

    # The events rows are the one row per fact the CDC connector routes: each batch event
    # has the same columns and metadata as a single command's, its stream's next version,
    # and a stream type that routes to a domain topic.
    rows = await db.fetch(
        "SELECT stream_id, stream_type, version, event_type, payload, metadata::text AS meta"
        " FROM events WHERE metadata->>'idempotency_key' = ANY($1::text[])"
        " ORDER BY global_position",
        [i["id"] for i in items],
    )
    assert len(rows) == 9
    single = await db.fetchval(
        "SELECT metadata::text FROM events WHERE stream_id = $1::uuid AND version = 2",
        uuid.UUID(a),
    )
    for row in rows:
        event = event_decoder.decode(row["payload"])
        assert type(event).__name__ == row["event_type"]
        assert set(msgspec.json.decode(row["meta"])) == set(msgspec.json.decode(single))
    assert [r["version"] for r in rows if r["stream_id"] == uuid.UUID(a)] == [3, 4]
    assert {topic_for_stream_type(r["stream_type"]) for r in rows} == {
        "account-events",
        "transaction-events",
    }


async def test_a_retried_batch_replays_and_appends_nothing(
    http: httpx.AsyncClient, db: asyncpg.Pool
) -> None:
    ada, (a, b) = await funded(http, "Ada Retry", 500, 0)
    items = [item(a, b, 100), item(a, b, 1_000)]  # the second breaks a rule
    first = (await batch(ada, items)).json()
    before = await db.fetchval("SELECT count(*) FROM events WHERE stream_id = $1", uuid.UUID(a))

    again = (await batch(ada, items)).json()

    assert (again["created"], again["replayed"], again["rejected"]) == (0, 1, 1)
    assert again["results"][0]["transfer_id"] == first["results"][0]["transfer_id"]
    assert again["results"][1]["code"] == first["results"][1]["code"] == "insufficient_funds"
    assert (
        await db.fetchval("SELECT count(*) FROM events WHERE stream_id = $1", uuid.UUID(a))
        == before
    )
    assert await ada.balance(a) == 400
    # A batch item and a single transfer share one key space and one request hash.
    single = await ada.transfer(a, b, 100, key=items[0]["id"])
    assert single.status_code == 201
    assert single.headers.get("Idempotent-Replayed") == "true"
    assert single.json()["transfer_id"] == first["results"][0]["transfer_id"]
    reused = await ada.transfer(a, b, 7, key=items[0]["id"])
    assert reused.status_code == 422


async def test_a_rule_breaker_fails_alone(http: httpx.AsyncClient) -> None:
    ada, (a, b) = await funded(http, "Ada Alone", 100, 0)
    items = [item(a, b, 60), item(a, b, 60), item(b, a, 0 + 10), item(a, a, 1)]

    body = (await batch(ada, items)).json()

    assert [x["status"] for x in body["results"]] == ["created", "rejected", "created", "rejected"]
    assert body["results"][1]["code"] == "insufficient_funds"
    assert body["results"][3]["code"] == "same_account"
    assert (await ada.balance(a), await ada.balance(b)) == (50, 50)


async def test_linked_transfers_succeed_or_fail_together(http: httpx.AsyncClient) -> None:
    ada, (a, b, c) = await funded(http, "Ada Linked", 100, 0, 0)
    chain_ok = [item(a, b, 30, linked=True), item(b, c, 30)]
    chain_bad = [item(a, b, 10, linked=True), item(b, c, 10, linked=True), item(c, a, 999)]
    open_chain = [item(a, c, 5, linked=True)]

    body = (await batch(ada, chain_ok + chain_bad + open_chain)).json()

    assert [x["status"] for x in body["results"]] == ["created"] * 2 + ["rejected"] * 4
    codes = [x.get("code") for x in body["results"][2:]]
    assert codes == [
        "linked_transfer_failed",
        "linked_transfer_failed",
        "insufficient_funds",
        "linked_chain_open",
    ]
    assert (await ada.balance(a), await ada.balance(b), await ada.balance(c)) == (70, 0, 30)
    # Nothing of a failed chain is remembered: fixed, the same chain goes through.
    chain_bad[2]["amount"] = 5
    again = (await batch(ada, chain_bad)).json()
    assert again["created"] == 3, again


async def test_someone_elses_account_is_not_found(http: httpx.AsyncClient) -> None:
    ada, (a,) = await funded(http, "Ada Owner", 100)
    eve, (e,) = await funded(http, "Eve Other", 100)

    body = (await batch(eve, [item(a, e, 50), item(e, a, 10)])).json()

    assert body["results"][0]["code"] == "account_not_found"
    assert body["results"][1]["status"] == "created"  # paying into someone's account is fine
    assert await ada.balance(a) == 110


async def test_bad_batches_are_refused_whole(http: httpx.AsyncClient) -> None:
    ada, (a, b) = await funded(http, "Ada Strict", 100, 0)
    too_many = [item(a, b, 1) for _ in range(8191)]
    cases = [
        {"transfers": too_many},
        {"transfers": []},
        {"transfers": [{**item(a, b, 1), "amount": 1.5}]},
        {"transfers": [{**item(a, b, 1), "amount": "1"}]},
        {"transfers": [{**item(a, b, 1), "extra": True}]},
        {"transfers": [{**item(a, b, 1), "id": "not-a-uuid"}]},
    ]
    for case in cases:
        r = await http.post("/api/v1/transfers/batch", json=case, headers=ada.auth)
        assert r.status_code == 400, (str(case)[:120], r.status_code, r.text[:200])
    assert await ada.balance(a) == 100
    r = await http.post("/api/v1/transfers/batch", json={"transfers": [item(a, b, 1)]})
    assert r.status_code == 401


async def test_a_full_batch_fits_and_keeps_the_total(http: httpx.AsyncClient) -> None:
    ada, accounts = await funded(http, "Ada Full", *([10_000] * 8))
    items = [item(accounts[i % 8], accounts[(i * 3 + 1) % 8], 1 + i % 5) for i in range(8190)]
    items = [x for x in items if x["from_account_id"] != x["to_account_id"]]

    r = await batch(ada, items)

    assert r.status_code == 200, r.text[:300]
    assert r.json()["created"] == len(items)
    assert sum([await ada.balance(x) for x in accounts]) == 80_000


async def test_batches_and_single_transfers_race_without_losing_money(
    http: httpx.AsyncClient,
) -> None:
    ada, (a, b, c) = await funded(http, "Ada Race", 10_000, 10_000, 10_000)
    pairs = [(a, b), (b, c), (c, a), (b, a)]
    batches = [batch(ada, [item(*pairs[(k + i) % 4], 3) for i in range(50)]) for k in range(6)]
    singles = [ada.transfer(*pairs[k % 4], 7) for k in range(24)]

    results = await asyncio.gather(*batches, *singles)

    assert all(r.status_code in (200, 201) for r in results), [r.text for r in results]
    assert all(r.json()["created"] == 50 for r in results[:6])
    assert sum([await ada.balance(x) for x in (a, b, c)]) == 30_000


async def test_every_item_is_audited_with_the_batch(
    http: httpx.AsyncClient, db: asyncpg.Pool
) -> None:
    ada, (a, b) = await funded(http, "Ada Audited", 100, 0)
    items = [item(a, b, 10), item(a, b, 500)]
    await batch(ada, items)
    await batch(ada, items[:1])

    rows = await db.fetch(
        "SELECT outcome, reason_code, details->>'batch_item_id' AS item FROM audit_log"
        " WHERE account_id = $1 AND action = 'transfer_money' ORDER BY id",
        uuid.UUID(a),
    )

    assert [(r["item"], r["outcome"], r["reason_code"]) for r in rows] == [
        (items[0]["id"], "accepted", None),
        (items[1]["id"], "rejected", "insufficient_funds"),
        (items[0]["id"], "replayed", None),
    ]
