"""The audit trail: every command and sign-in leaves a record, in the same
transaction as its effect; the records are append-only for the application;
auditors search them by actor, account and time."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest

from infra.local.stack import EmbeddedStack
from tests.support.customers import sign_up
from tests.support.staff import admin, audit_rows, set_role, staff

TRACE = "0af7651916cd43dd8448eb211c80319c"


async def test_audit_trail_records_every_command_outcome_with_its_context(
    http: httpx.AsyncClient,
    stack: EmbeddedStack,
    db: asyncpg.Pool,
) -> None:
    ada = await sign_up(http, "Ada Recorded")
    account = (await ada.open_account())["id"]
    headers = {
        **ada.auth,
        "traceparent": f"00-{TRACE}-b7ad6b7169203331-01",
        "User-Agent": "bank-tests/1.0",
        "Idempotency-Key": f"dep-{uuid.uuid4()}",
    }
    r = await http.post(
        f"/api/v1/accounts/{account}/deposits", json={"amount": 10_00}, headers=headers
    )
    assert r.status_code == 201
    replay = await http.post(
        f"/api/v1/accounts/{account}/deposits", json={"amount": 10_00}, headers=headers
    )
    assert replay.headers.get("idempotent-replayed") == "true"
    assert (await ada.withdraw(account, 1_000_00)).status_code == 422

    auditor = await staff(http, stack, "auditor", "Aud Trail")
    rows = await audit_rows(http, auditor, account=account)
    by_action = [(r["action"], r["outcome"], r["reason_code"]) for r in reversed(rows)]
    assert by_action == [
        ("open_account", "accepted", None),
        ("deposit_money", "accepted", None),
        ("deposit_money", "replayed", None),
        ("withdraw_money", "rejected", "insufficient_funds"),
    ]
    deposit = next(r for r in rows if r["action"] == "deposit_money" and r["outcome"] == "accepted")
    assert deposit["actor_id"] == ada.user_id and deposit["actor_role"] == "customer"
    assert deposit["session_id"] and deposit["client_ip"] == "127.0.0.1"
    assert deposit["user_agent"] == "bank-tests/1.0" and deposit["trace_id"] == TRACE
    assert deposit["target_type"] == "account" and deposit["target_id"] == account
    assert deposit["details"] == {"amount": 10_00}
    # Same transaction as the events: the event carries the same trace id.
    event_trace = await db.fetchval(
        "SELECT metadata->>'trace_id' FROM events WHERE stream_id = $1 AND version = 2",
        uuid.UUID(account),
    )
    assert event_trace == TRACE


async def test_audit_trail_is_append_only_for_the_application_role(
    http: httpx.AsyncClient,
    app_db: asyncpg.Pool,
    db: asyncpg.Pool,
) -> None:
    await sign_up(http, "Ada Immutable")
    assert await app_db.fetchval("SELECT count(*) FROM audit_log") > 0
    for sql in (
        "UPDATE audit_log SET outcome = 'accepted'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await app_db.execute(sql)
    # Even the owner role is stopped by the trigger (dropping it would be a deliberate act).
    for sql in ("UPDATE audit_log SET outcome = 'accepted'", "DELETE FROM audit_log"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await db.execute(sql)
    await app_db.execute(
        "INSERT INTO audit_log (action, outcome) VALUES ('test_probe', 'accepted')"
    )


async def test_audit_trail_records_sign_ins_and_role_changes(
    http: httpx.AsyncClient,
    stack: EmbeddedStack,
) -> None:
    ada = await sign_up(http, "Ada Promoted")
    boss = await admin(http, stack)
    assert (await set_role(http, boss, ada.user_id, "teller")).status_code == 200
    auditor = await staff(http, stack, "auditor", "Aud Roles")
    changes = [
        r
        for r in await audit_rows(http, auditor, actor=boss.user_id)
        if r["action"] == "change_role" and r["target_id"] == ada.user_id
    ]
    assert len(changes) == 1
    assert changes[0]["outcome"] == "accepted" and changes[0]["actor_role"] == "admin"
    assert changes[0]["details"] == {"role": "teller", "previous_role": "customer"}
    sign_ins = [
        r for r in await audit_rows(http, auditor, actor=ada.user_id) if r["action"] == "sign_in"
    ]
    assert sign_ins and sign_ins[0]["outcome"] == "accepted" and sign_ins[0]["session_id"]
    registered = [
        r for r in await audit_rows(http, auditor, actor=ada.user_id) if r["action"] == "register"
    ]
    assert [(r["outcome"], r["target_id"]) for r in registered] == [("accepted", ada.user_id)]
    r = await http.post(
        "/api/v1/auth/register",
        json={"email": ada.email, "password": "another long passphrase", "full_name": "Impostor"},
    )
    assert r.status_code == 409
    refused = [
        r
        for r in await audit_rows(http, auditor, limit=50)
        if r["action"] == "register"
        and r["details"].get("email") == ada.email
        and r["outcome"] == "rejected"
    ]
    assert [r["reason_code"] for r in refused] == ["email_taken"]


async def test_audit_trail_search_filters_by_time_and_pages_with_a_cursor(
    http: httpx.AsyncClient,
    stack: EmbeddedStack,
) -> None:
    ada = await sign_up(http, "Ada Paged")
    account = (await ada.open_account())["id"]
    for _ in range(5):
        assert (await ada.deposit(account, 1_00)).status_code == 201
    auditor = await staff(http, stack, "auditor", "Aud Pages")
    ids: list[int] = []
    cursor = None
    while True:
        r = await http.get(
            "/api/v1/audit",
            params={"account": account, "limit": 2, **({"cursor": cursor} if cursor else {})},
            headers=auditor.auth,
        )
        assert r.status_code == 200
        page = r.json()
        ids += [row["id"] for row in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(ids) == 6 and ids == sorted(ids, reverse=True)  # open + 5 deposits, newest first

    now = datetime.now(UTC)
    assert (
        len(
            await audit_rows(
                http, auditor, account=account, **{"from": (now - timedelta(minutes=5)).isoformat()}
            )
        )
        == 6
    )
    assert (
        await audit_rows(
            http, auditor, account=account, **{"to": (now - timedelta(minutes=5)).isoformat()}
        )
        == []
    )
    for bad in (
        {"account": "not-a-uuid"},
        {"from": "yesterday"},
        {"to": "0.5"},
        {"cursor": "abc"},
        {"cursor": "9999999999999999999"},  # past 64 bits: was a 500
    ):
        r = await http.get("/api/v1/audit", params=bad, headers=auditor.auth)
        assert r.status_code == 400, bad
    # A bound past either end of the calendar in another zone was a 500 too.
    assert (
        len(await audit_rows(http, auditor, account=account, **{"from": "0001-01-01T00:00+05:00"}))
        == 6
    )
    assert (
        len(await audit_rows(http, auditor, account=account, **{"to": "9999-12-31T23:59-05:00"}))
        == 6
    )
    assert (
        await audit_rows(http, auditor, account=account, **{"from": "9999-12-31T23:59-05:00"}) == []
    )
