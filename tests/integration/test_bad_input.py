"""Anything malformed a client sends gets a 4xx that says what is wrong, and changes nothing."""

from __future__ import annotations

import gzip
import json
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from tests.support.customers import Customer, sign_up

INT64_MAX = 2**63 - 1

MALFORMED_MOVEMENTS: list[tuple[str, Any]] = [
    ("float amount", {"amount": 10.5}),
    ("integral float amount", {"amount": 100.0}),
    ("string amount", {"amount": "100"}),
    ("null amount", {"amount": None}),
    ("bool amount", {"amount": True}),
    ("zero amount", {"amount": 0}),
    ("negative amount", {"amount": -100}),
    ("amount past int64", {"amount": INT64_MAX + 1}),
    ("huge amount", {"amount": 10**40}),
    ("exponent amount", {"amount": 1e3}),
    ("missing amount", {"description": "x"}),
    ("unknown field", {"amount": 100, "balance": 10**9}),
    ("description too long", {"amount": 100, "description": "x" * 1000}),
    ("list body", [100]),
    ("string body", "100"),
]

NO_BODY = "The request needs a JSON body."


@pytest.fixture
async def customer_with_account(http: httpx.AsyncClient) -> tuple[Customer, str]:
    ada = await sign_up(http, "Ada Malformed")
    account = (await ada.open_account())["id"]
    assert (await ada.deposit(account, 1_000)).status_code == 201
    return ada, account


async def _count(db: asyncpg.Pool) -> int:
    return int(await db.fetchval("SELECT count(*) FROM events"))


@pytest.mark.parametrize(
    ("case", "body"), MALFORMED_MOVEMENTS, ids=[c for c, _ in MALFORMED_MOVEMENTS]
)
@pytest.mark.parametrize("kind", ["deposits", "withdrawals"])
async def test_malformed_movements_are_400_and_append_nothing(
    http: httpx.AsyncClient,
    db: asyncpg.Pool,
    customer_with_account: tuple[Customer, str],
    kind: str,
    case: str,
    body: Any,
) -> None:
    ada, account = customer_with_account
    before = await _count(db)
    r = await http.post(
        f"/api/v1/accounts/{account}/{kind}",
        content=json.dumps(body),
        headers={
            **ada.auth,
            "Idempotency-Key": str(uuid.uuid4()),
            "Content-Type": "application/json",
        },
    )
    assert r.status_code == 400, (case, r.status_code, r.text)
    problem = r.json()
    assert problem["status"] == 400 and problem["detail"]
    # One code for a body that does not fit, whichever layer noticed it.
    assert problem["code"] == "invalid_body", (case, problem)
    # ... and the same words: not Litestar's "Validation failed for POST <path>. data: ..."
    # for some and "Invalid request body: ..." for others.
    detail = problem["detail"]
    assert detail.startswith("Invalid request body: ") or detail == NO_BODY, (case, detail)
    assert "Validation failed" not in detail and "data:" not in detail, (case, detail)
    # The field is named first by both ("amount: Expected `int`, got `str`"), not at the
    # end in msgspec's path syntax ("... - at `$.amount`") by one of them.
    assert "- at `$" not in detail, (case, detail)
    assert r.headers["content-type"].startswith("application/problem+json")
    assert await _count(db) == before
    assert await ada.balance(account) == 1_000


async def _deposit_raw(
    http: httpx.AsyncClient, ada: Customer, account: str, raw: bytes, **headers: str
) -> httpx.Response:
    """A deposit whose body is sent as these bytes, declared JSON, under a new key."""
    return await http.post(
        f"/api/v1/accounts/{account}/deposits",
        content=raw,
        headers={
            **ada.auth,
            "Idempotency-Key": str(uuid.uuid4()),
            "Content-Type": "application/json",
            **headers,
        },
    )


async def test_broken_json_and_empty_bodies_are_400(
    http: httpx.AsyncClient, db: asyncpg.Pool, customer_with_account: tuple[Customer, str]
) -> None:
    ada, account = customer_with_account
    before = await _count(db)
    expected = [
        (b"{", "malformed_json", "not valid JSON"),
        (b'{"amount": 1,}', "malformed_json", "trailing comma"),
        (b"", "invalid_body", NO_BODY),
        (b"\xff\xfe", "invalid_characters", "UTF-8"),
        (b"null", "invalid_body", "null"),
    ]
    for raw, code, words in expected:
        r = await _deposit_raw(http, ada, account, raw)
        assert r.status_code == 400, (raw, r.status_code, r.text)
        assert r.json()["code"] == code and words in r.json()["detail"], (raw, r.text)
    assert await _count(db) == before


async def test_a_body_in_a_content_coding_is_415_and_changes_nothing(
    http: httpx.AsyncClient, db: asyncpg.Pool, customer_with_account: tuple[Customer, str]
) -> None:
    """A compressed body is refused for what it is (it was "not valid UTF-8"), and so is
    a plain body that claims a coding: the API takes a body as sent."""
    ada, account = customer_with_account
    before = await _count(db)
    for raw in (gzip.compress(b'{"amount": 1}'), b'{"amount": 1}'):
        r = await _deposit_raw(http, ada, account, raw, **{"Content-Encoding": "gzip"})
        assert r.status_code == 415, r.text
        assert r.json()["code"] == "unsupported_content_encoding", r.text
        assert "without Content-Encoding (gzip" in r.json()["detail"], r.text
    assert await _count(db) == before
    r = await _deposit_raw(http, ada, account, b'{"amount": 1}', **{"Content-Encoding": "identity"})
    assert r.status_code == 201, r.text
    assert await _count(db) == before + 1


async def test_what_the_framework_refuses_has_a_code_and_says_what_to_do(
    http: httpx.AsyncClient, customer_with_account: tuple[Customer, str]
) -> None:
    """Routing, authentication and size limits answer as our own errors do: a problem
    with a machine-readable code, and words a person can act on."""
    ada, account = customer_with_account
    too_large = {"name": "x" * 70_000, "currency": "EUR"}
    cases = [
        (
            await http.get("/api/v1/no-such-thing", headers=ada.auth),
            (404, "not_found", "/schema lists them"),
        ),
        (
            await http.delete(f"/api/v1/accounts/{account}", headers=ada.auth),
            (405, "method_not_allowed", "DELETE is not allowed here; this path takes"),
        ),
        (await http.get("/api/v1/me"), (401, "unauthorized", "token")),
        (
            await http.post(
                "/api/v1/accounts",
                json=too_large,
                headers={**ada.auth, "Idempotency-Key": str(uuid.uuid4())},
            ),
            (413, "payload_too_large", "at most 65,536 bytes"),
        ),
    ]
    for r, (status, code, words) in cases:
        assert r.headers["content-type"].startswith("application/problem+json"), r.text
        assert (r.status_code, r.json()["code"]) == (status, code), r.text
        assert words in r.json()["detail"], r.text


async def test_a_missing_or_malformed_idempotency_key_is_400(
    http: httpx.AsyncClient, db: asyncpg.Pool, customer_with_account: tuple[Customer, str]
) -> None:
    ada, account = customer_with_account
    before = await _count(db)
    r = await http.post(
        f"/api/v1/accounts/{account}/deposits", json={"amount": 1}, headers=ada.auth
    )
    assert r.status_code == 400 and r.json()["code"] == "idempotency_key_required"
    r = await http.post(
        f"/api/v1/accounts/{account}/deposits",
        json={"amount": 1},
        headers={**ada.auth, "Idempotency-Key": "x" * 300},
    )
    assert r.status_code == 400 and r.json()["code"] == "invalid_idempotency_key"
    r = await http.post(
        "/api/v1/transfers",
        json={"from_account_id": account, "to_account_id": account, "amount": 1},
        headers=ada.auth,
    )
    assert r.status_code == 400
    # Two keys: a retry with either one would be a second deposit, so neither is taken.
    for path in (f"/api/v1/accounts/{account}/deposits", f"/api/v1/accounts/{account}/holds"):
        two = httpx.Headers(
            [*ada.auth.items(), ("Idempotency-Key", "a1"), ("Idempotency-Key", "b2")]
        )
        r = await http.post(path, json={"amount": 1}, headers=two)
        assert r.status_code == 400 and r.json()["code"] == "invalid_idempotency_key", r.text
        assert "one Idempotency-Key" in r.json()["detail"], r.text
    assert await _count(db) == before


async def test_a_query_parameter_given_twice_is_400_not_the_last_one_silently(
    http: httpx.AsyncClient, customer_with_account: tuple[Customer, str]
) -> None:
    """Every query parameter of the API takes one value. ``?kind=deposit&kind=withdrawal``
    answered the withdrawals alone, which an integrator would take for both."""
    ada, account = customer_with_account
    for query in (
        "kind=deposit&kind=withdrawal",
        "limit=1&limit=50",
        "limit=1&amp;x=1&limit=2",
        "kind=deposit&%6Bind=deposit",  # the same name, percent-encoded
    ):
        r = await http.get(f"/api/v1/accounts/{account}/transactions?{query}", headers=ada.auth)
        assert r.status_code == 400, (query, r.text)
        problem = r.json()
        assert problem["code"] == "repeated_parameter", problem
        assert "is given more than once; give it once" in problem["detail"], problem
    r = await http.get("/api/v1/notifications?limit=5&limit=6", headers=ada.auth)
    assert r.status_code == 400 and r.json()["code"] == "repeated_parameter", r.text
    # Different parameters, and empty parts between them, are as before.
    r = await http.get(
        f"/api/v1/accounts/{account}/transactions?kind=deposit&&limit=5&", headers=ada.auth
    )
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "123", "00000000-0000-0000-0000-00000000000Z"])
async def test_malformed_ids_are_400(
    http: httpx.AsyncClient, customer_with_account: tuple[Customer, str], bad_id: str
) -> None:
    ada, account = customer_with_account
    r = await ada.account(bad_id)
    assert r.status_code == 400 and r.json()["code"] == "invalid_id"
    r = await ada.deposit(bad_id, 100)
    assert r.status_code == 400
    r = await ada.transfer(account, bad_id, 100)
    assert r.status_code == 400
    assert r.json()["detail"] == "Invalid request body: to_account_id: Invalid UUID", r.text


@pytest.mark.parametrize(
    "body",
    [
        {"currency": "eur", "name": "x"},
        {"currency": "EURO", "name": "x"},
        {"currency": "EUR", "name": ""},
        {"currency": "EUR", "name": "   "},
        {"currency": "EUR"},
        {"currency": "EUR", "name": "x", "status": "frozen"},
        {"currency": "EUR", "name": "x", "balance": {"amount": 10**9, "currency": "EUR"}},
        {"currency": "EUR", "name": "x", "owner_id": str(uuid.uuid4())},
    ],
)
async def test_opening_an_account_rejects_bad_or_extra_fields(
    http: httpx.AsyncClient, db: asyncpg.Pool, body: dict[str, Any]
) -> None:
    ada = await sign_up(http, "Ada Opener")
    before = await _count(db)
    r = await http.post("/api/v1/accounts", json=body, headers=ada.auth)
    assert r.status_code == 400, r.text
    assert await _count(db) == before


async def test_registration_rejects_malformed_input(http: httpx.AsyncClient) -> None:
    for body in [
        {"email": "not-an-email", "password": "long enough password", "full_name": "x"},
        {"email": "a@b.co", "password": 123456789012, "full_name": "x"},
        {"email": "a@b.co", "password": "long enough password", "full_name": "x", "role": "admin"},
        {"email": "blank@b.co", "password": "long enough password", "full_name": "   "},
    ]:
        r = await http.post("/api/v1/auth/register", json=body)
        assert r.status_code == 400, (body, r.text)


async def test_a_pattern_is_refused_in_words_not_as_a_regular_expression(
    http: httpx.AsyncClient,
) -> None:
    """A blank name was stored as an empty one; an email with a space was refused with
    the regular expression it failed, which nobody can act on."""
    ada = await sign_up(http, "Ada Words")
    password = "long enough password"
    for path, body, words in [
        (
            "/api/v1/auth/register",
            {"email": " ada@example.com", "password": password, "full_name": "Ada"},
            "email: Expected an email address like ada@example.com, without spaces",
        ),
        (
            "/api/v1/auth/register",
            {"email": "blank@example.com", "password": password, "full_name": " \t "},
            "full_name: Expected one line of text, not only spaces",
        ),
        (
            "/api/v1/accounts",
            {"currency": "eur", "name": "Main"},
            "currency: Expected a currency code of three capital letters, like EUR",
        ),
        (
            "/api/v1/accounts",
            {"currency": "EUR", "name": "  "},
            "name: Expected one line of text, not only spaces",
        ),
        (
            "/api/v1/payees",
            {"account_number": "12345", "holder_name": "Bob", "nickname": "Bob"},
            "account_number: Expected an account number like XN12 NWBK 0000 0000 01",
        ),
        (
            "/api/v1/payees",
            {"account_number": "XN12 NWBK 0000 0000 01", "holder_name": "Bob", "nickname": " "},
            "nickname: Expected one line of text, not only spaces",
        ),
    ]:
        r = await http.post(path, json=body, headers=ada.auth)
        assert r.status_code == 400 and r.json()["code"] == "invalid_body", (body, r.text)
        assert words in r.json()["detail"] and "regex" not in r.json()["detail"], r.text


async def test_text_others_read_is_one_line_without_direction_overrides(
    http: httpx.AsyncClient, db: asyncpg.Pool
) -> None:
    """A description or a name is shown to others (the payee's history, statements, the
    app): a line break, a tab, a C1 control or a bidirectional override ("Trojan
    Source", U+202E shows "evil" as "live") was stored as sent. Any script is taken."""
    ada = await sign_up(http, "Ada Text")
    source, target = (await ada.open_account())["id"], (await ada.open_account())["id"]
    assert (await ada.deposit(source, 1_000)).status_code == 201
    before = await _count(db)
    for text in ("Rent\n", "Rent\nMarch", "Rent\tMarch", "\u202eevil", "x\u2066y", "a\x85b"):
        for r in (
            await ada.transfer(source, target, 1, description=text),
            await ada.deposit(source, 1, description=text),
            await http.post(
                "/api/v1/accounts", json={"currency": "EUR", "name": text}, headers=ada.auth
            ),
        ):
            assert (r.status_code, r.json()["code"]) == (400, "invalid_body"), (text, r.text)
            assert "Expected one line of text" in r.json()["detail"], r.text
            assert "direction of text" in r.json()["detail"], r.text
    assert await _count(db) == before  # nothing was written
    for text in ("Zoë's café ☕", "家賃 3月", "שכר דירה", "إيجار", "Miete für März"):
        r = await ada.transfer(source, target, 1, description=text)
        assert r.status_code == 201, (text, r.text)


async def test_token_endpoint_rejects_other_grants(http: httpx.AsyncClient) -> None:
    r = await http.post("/api/v1/auth/token", data={"grant_type": "client_credentials"})
    assert r.status_code == 400 and r.json()["code"] == "unsupported_grant_type"
    r = await http.post("/api/v1/auth/token", json={"grant_type": "password"})
    assert 400 <= r.status_code < 500


async def test_the_id_of_a_transfer_is_no_account_anywhere(
    http: httpx.AsyncClient, customer_with_account: tuple[Customer, str], db: asyncpg.Pool
) -> None:
    """A transfer's id is the id of a stream in the event store too, one that is not an
    account's: named where an account is, it is a 404 like any unknown account (it was
    a 500 where the account was folded from the store without asking the registry)."""
    ada, account = customer_with_account
    savings = (await ada.open_account(name="Savings"))["id"]
    sent = await ada.transfer(account, savings, 100)
    assert sent.status_code == 201, sent.text
    transfer = sent.json()["transfer_id"]
    before = await _count(db)
    key = {**ada.auth, "Idempotency-Key": str(uuid.uuid4())}
    base = f"/api/v1/accounts/{transfer}"
    answers = {
        "account": await ada.account(transfer),
        "balance": await http.get(f"{base}/balance", headers=ada.auth),
        "history": await http.get(f"{base}/transactions", headers=ada.auth),
        "one transaction": await http.get(f"{base}/transactions/{transfer}", headers=ada.auth),
        "limits": await http.get(f"{base}/limits", headers=ada.auth),
        "holds": await http.get(f"{base}/holds", headers=ada.auth),
        "post a hold": await http.post(f"{base}/holds/{transfer}/post", json={}, headers=key),
        "statement": await http.get(f"{base}/statements/2026-12", headers=ada.auth),
        "rename": await http.patch(base, json={"name": "Mine"}, headers=ada.auth),
        "deposit": await ada.deposit(transfer, 100),
        "withdrawal": await ada.withdraw(transfer, 100),
        "transfer from": await ada.transfer(transfer, account, 100),
    }
    codes = {what: (r.status_code, r.json().get("code")) for what, r in answers.items()}
    assert codes == {what: (404, "account_not_found") for what in answers}, codes
    into = await ada.transfer(account, transfer, 100)
    assert into.status_code in (404, 422) and "account" in into.json()["code"], into.text
    assert await _count(db) == before
