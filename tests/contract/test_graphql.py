"""GraphQL at /graphql: the customers' story, live balances, privacy and abuse limits,
over the same application layer, tokens, codes and idempotency as REST."""

from __future__ import annotations

import asyncio
import signal
import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis

from infra.local.procs import ManagedProcess
from tests.contract.graphql_client import GraphQL, subscription
from tests.integration.test_projections import wait_projected
from tests.support.customers import Customer, sign_up
from tests.support.pubsub import subscribers_cut_off

OPEN = """mutation($name: String!) {
  openAccount(currency: "EUR", name: $name) { id currency status balance { amount currency } }
}"""
DEPOSIT = """mutation($id: UUID!, $amount: MinorUnits!, $key: String!) {
  deposit(accountId: $id, amount: $amount, idempotencyKey: $key, description: "salary") {
    transactionId balance { amount } version replayed
  }
}"""
WITHDRAW = """mutation($id: UUID!, $amount: MinorUnits!, $key: String!) {
  withdraw(accountId: $id, amount: $amount, idempotencyKey: $key) { balance { amount } }
}"""
TRANSFER = """mutation($from: UUID!, $to: UUID!, $amount: MinorUnits!, $key: String!) {
  transfer(fromAccountId: $from, toAccountId: $to, amount: $amount, idempotencyKey: $key,
           description: "rent") { transferId balance { amount } replayed }
}"""
HISTORY = """query($id: UUID!, $first: Int!, $after: String, $kind: TransactionKind) {
  transactions(accountId: $id, first: $first, after: $after, kind: $kind) {
    edges { cursor node { kind amount { amount } balanceAfter { amount }
                          counterpartyAccountId version } }
    pageInfo { hasNextPage endCursor }
  }
}"""
BALANCE_CHANGED = """subscription($ids: [UUID!]!) {
  balanceChanged(accountIds: $ids) { accountId balance { amount currency } version
                                     transaction { kind amount { amount }
                                                   counterpartyAccountNumber } }
}"""


async def _customer(http: httpx.AsyncClient, name: str) -> tuple[Customer, GraphQL]:
    person = await sign_up(http, name)
    return person, GraphQL(http, person.token)


async def _open(gql: GraphQL, name: str = "Everyday") -> str:
    account: str = (await gql.data(OPEN, name=name))["openAccount"]["id"]
    return account


async def _until(check: Any, seconds: float = 15.0) -> Any:
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        result = await check()
        if result or asyncio.get_running_loop().time() > deadline:
            return result
        await asyncio.sleep(0.2)


async def test_two_customers_bank_over_graphql(
    http: httpx.AsyncClient, cdc: object, projections: object
) -> None:
    ada, ada_gql = await _customer(http, "Ada Graph")
    bob, bob_gql = await _customer(http, "Bob Graph")
    assert (await ada_gql.data("{ me { email role } }"))["me"] == {
        "email": ada.email,
        "role": "customer",
    }
    ada_account, bob_account = await _open(ada_gql), await _open(bob_gql, "Savings")

    key = str(uuid.uuid4())
    first = (await ada_gql.data(DEPOSIT, id=ada_account, amount=10_000, key=key))["deposit"]
    again = (await ada_gql.data(DEPOSIT, id=ada_account, amount=10_000, key=key))["deposit"]
    assert first["balance"]["amount"] == 10_000 and not first["replayed"]
    assert again == {**first, "replayed": True}  # exactly once
    # The same key over REST is the same command: answered from the first time.
    rest = await ada.deposit(ada_account, 10_000, key=key, description="salary")
    assert rest.status_code == 201 and rest.headers.get("idempotent-replayed") == "true"
    assert rest.json()["transaction_id"] == first["transactionId"]

    moved = await ada_gql.data(
        TRANSFER, **{"from": ada_account}, to=bob_account, amount=2_500, key=str(uuid.uuid4())
    )
    assert moved["transfer"]["balance"]["amount"] == 7_500

    refused = await ada_gql.error(WITHDRAW, id=ada_account, amount=1_000_000, key=str(uuid.uuid4()))
    assert refused["extensions"]["code"] in ("insufficient_funds", "amount_over_limit")
    assert refused["extensions"]["status"] == 422
    missing_key = await ada_gql.run(
        'mutation($id: UUID!) { deposit(accountId: $id, amount: 1, idempotencyKey: "") '
        "{ version } }",
        id=ada_account,
    )
    assert missing_key["errors"][0]["extensions"]["code"] == "invalid_idempotency_key"

    balance = await bob_gql.data(
        "query($id: UUID!) { balance(accountId: $id) { balance { amount currency } } }",
        id=bob_account,
    )
    assert balance["balance"]["balance"] == {"amount": 2_500, "currency": "EUR"}
    accounts = await bob_gql.data("{ accounts { id name balance { amount } } }")
    assert accounts["accounts"] == [
        {"id": bob_account, "name": "Savings", "balance": {"amount": 2_500}}
    ]

    async def ada_history() -> list[dict[str, Any]]:
        page = await ada_gql.data(HISTORY, id=ada_account, first=10)
        edges: list[dict[str, Any]] = page["transactions"]["edges"]
        return edges if len(edges) == 2 else []

    edges = await _until(ada_history)
    assert [e["node"]["kind"] for e in edges] == ["TRANSFER_OUT", "DEPOSIT"]  # newest first
    assert edges[0]["node"]["counterpartyAccountId"] == bob_account
    one = (await ada_gql.data(HISTORY, id=ada_account, first=1))["transactions"]
    assert one["pageInfo"]["hasNextPage"] and len(one["edges"]) == 1
    rest_page = (
        await ada_gql.data(HISTORY, id=ada_account, first=5, after=one["pageInfo"]["endCursor"])
    )["transactions"]
    assert [e["node"]["kind"] for e in rest_page["edges"]] == ["DEPOSIT"]
    deposits = await ada_gql.data(HISTORY, id=ada_account, first=5, kind="DEPOSIT")
    assert len(deposits["transactions"]["edges"]) == 1

    async def analytics() -> dict[str, Any] | None:
        a = (
            await ada_gql.data(
                "query($id: UUID!) { analytics(accountId: $id) { totalIn totalOut count } }",
                id=ada_account,
            )
        )["analytics"]
        return a if a["count"] == 2 else None

    assert await _until(analytics) == {"totalIn": 10_000, "totalOut": 2_500, "count": 2}


async def test_a_subscription_sees_a_transfer_live(
    http: httpx.AsyncClient, api_url: str, cdc: object, projections: object
) -> None:
    ada, ada_gql = await _customer(http, "Ada Live")
    bob, bob_gql = await _customer(http, "Bob Live")
    ada_account, bob_account = await _open(ada_gql), await _open(bob_gql)
    await ada_gql.data(DEPOSIT, id=ada_account, amount=5_000, key=str(uuid.uuid4()))

    async with subscription(api_url, bob.token, BALANCE_CHANGED, ids=[bob_account]) as events:
        await asyncio.sleep(0.3)  # the subscription is registered on the server
        await ada_gql.data(
            TRANSFER, **{"from": ada_account}, to=bob_account, amount=1_234, key=str(uuid.uuid4())
        )
        msg = await asyncio.wait_for(events.get(), 15)
        if _is_the_opening(msg):
            # Bob's account may be projected only after he subscribed: its opening
            # (version 1, nothing moved) is pushed first, and it is the only thing
            # that may come before the transfer.
            msg = await asyncio.wait_for(events.get(), 15)
    assert msg["type"] == "next", msg
    change = msg["payload"]["data"]["balanceChanged"]
    assert change["accountId"] == bob_account
    assert change["balance"] == {"amount": 1_234, "currency": "EUR"}
    adas_number = (await ada.account(ada_account)).json()["account_number"]
    assert change["transaction"] == {  # the payer named by the number a person reads
        "kind": "TRANSFER_IN",
        "amount": {"amount": 1_234},
        "counterpartyAccountNumber": adas_number,
    }


async def test_a_subscription_gets_what_redis_lost_while_the_api_could_not_resubscribe(
    http: httpx.AsyncClient,
    api_url: str,
    cdc: object,
    projections: ManagedProcess,
    db: asyncpg.Pool,
    redis_client: Redis,
) -> None:
    ada, ada_gql = await _customer(http, "Ada Gap")
    account = await _open(ada_gql)
    await ada_gql.data(DEPOSIT, id=account, amount=1_000, key=str(uuid.uuid4()))
    async with subscription(api_url, ada.token, BALANCE_CHANGED, ids=[account]) as events:
        await wait_projected(db, account, 2)
        projections.kill(signal.SIGSTOP)  # the deposit is published inside the cut
        try:
            await ada_gql.data(DEPOSIT, id=account, amount=250, key=str(uuid.uuid4()))
            async with subscribers_cut_off(redis_client):
                projections.kill(signal.SIGCONT)
                await wait_projected(db, account, 3)
                await asyncio.sleep(0.3)  # published (after the commit): to no one
        finally:
            projections.kill(signal.SIGCONT)
        # The first deposit comes first if the subscription read the account before
        # it was projected; each version once, in order.
        versions = []
        while not versions or versions[-1] < 3:
            msg = await asyncio.wait_for(events.get(), 15)
            change = msg["payload"]["data"]["balanceChanged"]
            versions.append(change["version"])
    assert versions in ([3], [2, 3]), versions
    assert change["balance"]["amount"] == 1_250
    assert change["transaction"] == {
        "kind": "DEPOSIT",
        "amount": {"amount": 250},
        "counterpartyAccountNumber": None,
    }


def _is_the_opening(msg: dict[str, Any]) -> bool:
    payload = msg.get("payload")
    if msg.get("type") != "next" or not isinstance(payload, dict):
        return False
    change = (payload.get("data") or {}).get("balanceChanged") or {}
    return change.get("version") == 1 and change.get("balance", {}).get("amount") == 0


async def test_another_customers_account_is_invisible(
    http: httpx.AsyncClient, api_url: str
) -> None:
    _, ada_gql = await _customer(http, "Ada Private")
    eve, eve_gql = await _customer(http, "Eve Curious")
    ada_account = await _open(ada_gql)
    for query in (
        "query($id: UUID!) { account(id: $id) { balance { amount } } }",
        "query($id: UUID!) { balance(accountId: $id) { version } }",
        "query($id: UUID!) { transactions(accountId: $id) { edges { cursor } } }",
        "query($id: UUID!) { analytics(accountId: $id) { count } }",
    ):
        err = await eve_gql.error(query, id=ada_account)
        assert err["extensions"]["code"] == "account_not_found", (query, err)
    err = await eve_gql.error(DEPOSIT, id=ada_account, amount=1, key=str(uuid.uuid4()))
    assert err["extensions"]["code"] == "account_not_found"
    assert (await eve_gql.data("{ accounts { id } }"))["accounts"] == []

    async with subscription(api_url, eve.token, BALANCE_CHANGED, ids=[ada_account]) as events:
        msg = await asyncio.wait_for(events.get(), 10)
    errors = msg["payload"] if msg["type"] == "error" else msg["payload"].get("errors")
    assert errors and errors[0]["extensions"]["code"] == "account_not_found", msg
    assert not (msg["payload"].get("data") if msg["type"] == "next" else None)


async def test_without_a_valid_token_nothing_is_answered(
    http: httpx.AsyncClient, api_url: str
) -> None:
    r = await GraphQL(http, None).raw("{ accounts { id } }")
    assert r.status_code == 401
    r = await GraphQL(http, "not-a-token").raw("{ accounts { id } }")
    assert r.status_code == 401
    with pytest.raises(Exception):  # noqa: B017 - the server closes the socket (4403)
        async with subscription(api_url, None, BALANCE_CHANGED, ids=[str(uuid.uuid4())]):
            pass


async def test_abusive_documents_are_refused_with_a_clear_error(http: httpx.AsyncClient) -> None:
    _, gql = await _customer(http, "Mallory Deep")
    # The schema has no cycles (its deepest path is transactions.edges.node.amount.amount),
    # so depth is bounded by construction; the depth limiter guards a future cycle, and
    # the token limit bounds the classic deep introspection (ofType { ofType { ... } }).
    long = "{ " + "me { id } " * 600 + "}"
    err = await gql.error(long)
    assert "token" in err["message"].lower(), err
    aliases = "{ " + " ".join(f"a{i}: me {{ id }}" for i in range(40)) + " }"
    err = await gql.error(aliases)
    assert "aliases" in err["message"].lower()
    costly = """query($id: UUID!) { a: transactions(accountId: $id, first: 200) {
      edges { cursor node { kind version amount { amount currency } balanceAfter { amount }
              description occurredAt counterpartyAccountId transactionId accountId } } }
      b: transactions(accountId: $id, first: 200) { edges { cursor node { kind version amount
              { amount currency } balanceAfter { amount } description occurredAt } } } }"""
    err = await gql.error(costly, id=str(uuid.uuid4()))
    assert err["extensions"] == {
        "code": "query_too_costly",
        "status": 400,
        "classification": "BAD_REQUEST",  # as every other error says it
    }, err
    assert "at most" in err["message"]
    # Introspection is on in development (settings.graphql_introspection).
    schema = await gql.data("{ __schema { queryType { name } } }")
    assert schema["__schema"]["queryType"]["name"] == "Query"


async def test_a_document_that_does_not_parse_or_validate_has_a_code(
    http: httpx.AsyncClient,
) -> None:
    """Errors graphql-core raises before any resolver runs carry what every other error
    carries: a code, the HTTP-equivalent status and whose move it is."""
    _, gql = await _customer(http, "Quinn Query")
    for document in ["{ me { email } ", "{ me { shoeSize } }", "{ accounts(first: 1) { id } }"]:
        err = await gql.error(document)
        assert err["extensions"] == {
            "code": "invalid_query",
            "status": 400,
            "classification": "BAD_REQUEST",
        }, (document, err)
    # An error a resolver raised keeps its own code.
    err = await gql.error("query($id: UUID!) { account(id: $id) { id } }", id=str(uuid.uuid4()))
    assert err["extensions"]["code"] != "invalid_query", err


async def test_a_request_of_the_wrong_shape_is_a_problem_document_never_plain_text_or_a_500(
    http: httpx.AsyncClient,
) -> None:
    """What REST answers for a body that is not JSON or not the request's shape, /graphql
    answers too: a problem document with a code, not Strawberry's plain text (and not the
    500 a JSON string or number was)."""
    person = await sign_up(http, "Bobby Body")
    json_type = {"content-type": "application/json"}
    cases: list[tuple[bytes, dict[str, str], int, str]] = [
        (b"{not json", json_type, 400, "malformed_json"),
        (b"", json_type, 400, "invalid_body"),
        (b'"{ me { id } }"', json_type, 400, "invalid_body"),
        (b"1", json_type, 400, "invalid_body"),
        (b'[{"query": "{ me { id } }"}]', json_type, 400, "invalid_body"),  # no batching
        (b"{}", json_type, 400, "invalid_body"),
        (b'{"query": 1}', json_type, 400, "invalid_body"),
        (b'{"query": "{ me { id } }", "variables": []}', json_type, 400, "invalid_body"),
        (b'{"query": "{ me { id } }", "operationName": 3}', json_type, 400, "invalid_body"),
        (b'{"query": "{ me { id } }", "extensions": "x"}', json_type, 400, "invalid_body"),
        (
            b'{"query": "{ me { id } }"}',
            {"content-type": "text/plain"},
            415,
            "unsupported_media_type",
        ),
        (b'{"query": "{ me { id } }"}', {}, 415, "unsupported_media_type"),
    ]
    for body, headers, status, code in cases:
        r = await http.post("/graphql", content=body, headers={**person.auth, **headers})
        assert r.status_code == status, (body, headers, r.status_code, r.text)
        assert r.headers["content-type"] == "application/problem+json", (body, r.text)
        problem = r.json()
        assert problem["code"] == code, (body, problem)
        assert problem["instance"] == "/graphql" and problem["detail"], problem
    r = await http.post("/graphql", content=b"[]", headers={**person.auth, **json_type})
    assert "Expected `object`, got `array`" in r.json()["detail"], r.text
    # A GET with a query is refused (a GET must never change anything) in the same form.
    r = await http.get("/graphql", params={"query": "{ me { id } }"}, headers=person.auth)
    assert r.status_code == 400 and r.json()["code"] == "invalid_request", r.text
    # The body of a well-formed request may carry a charset, and is answered.
    r = await http.post(
        "/graphql",
        content=b'{"query": "{ me { id } }", "operationName": null, "variables": null}',
        headers={**person.auth, "content-type": "application/json; charset=utf-8"},
    )
    assert r.status_code == 200 and r.json()["data"]["me"]["id"] == person.user_id, r.text
