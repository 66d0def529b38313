"""A customer who forgot their password asks for a code by email and sets a new password
with it: every session of theirs ends, they are told, and the code works once. Nobody
learns from the answers which emails have an account, no code can be guessed (wrong ones
lock the account out as wrong passwords do), and an old code does nothing."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path

import asyncpg
import httpx

from infra.local.procs import ManagedProcess
from infra.local.stack import EmbeddedStack
from runtime.settings import Settings
from tests.integration.test_notifications import wait_inbox
from tests.support.addresses import address_of_its_own
from tests.support.customers import PASSWORD, Customer, sign_in, sign_up
from tests.support.mailbox import messages_to, wait_for_emailed_code
from tests.support.staff import audit_rows, staff

NEW_PASSWORD = "a quite new passphrase of mine"


async def _ask(http: httpx.AsyncClient, email: str, **headers: str) -> httpx.Response:
    return await http.post("/api/v1/auth/password-reset", json={"email": email}, headers=headers)


async def _reset(
    http: httpx.AsyncClient, email: str, code: str, new: str = NEW_PASSWORD, **headers: str
) -> httpx.Response:
    return await http.post(
        "/api/v1/auth/password-reset/confirm",
        json={"email": email, "code": code, "new_password": new},
        headers=headers,
    )


async def test_a_forgotten_password_is_reset_with_the_emailed_code(
    http: httpx.AsyncClient,
    stack: EmbeddedStack,
    mailbox: Path,
    cdc: ManagedProcess,
    notifications: ManagedProcess,
) -> None:
    ada = await sign_up(http, "Ada Forgetful")
    assert (await sign_in(http, ada.email)).status_code == 200  # a second device
    r = await _ask(http, ada.email.upper())  # as typed: any case
    assert r.status_code == 202, r.text
    assert r.json()["code_valid_for_seconds"] == 1800
    assert "If an account has this email" in r.json()["detail"]
    code = wait_for_emailed_code(mailbox, ada.email)
    [mail] = messages_to(mailbox, ada.email)
    assert mail["Subject"] == "Your code to reset your password"

    # A password the policy refuses: said, and the code still works.
    r = await _reset(http, ada.email, code, new="password")
    assert (r.status_code, r.json()["code"]) == (400, "weak_password"), r.text
    r = await _reset(http, ada.email, code.lower().replace("-", " "))  # as typed from a phone
    assert (r.status_code, r.json()) == (200, {"sessions_ended": 2}), r.text

    r = await http.get("/api/v1/me", headers=ada.auth)  # signed out everywhere
    assert (r.status_code, r.json()["code"]) == (401, "session_revoked"), r.text
    assert (await sign_in(http, ada.email, PASSWORD)).status_code == 400
    assert (await sign_in(http, ada.email, NEW_PASSWORD)).status_code == 200
    r = await _reset(http, ada.email, code, new="yet another passphrase here")  # works once
    assert (r.status_code, r.json()["code"]) == (422, "wrong_reset_code"), r.text

    t = await sign_in(http, ada.email, NEW_PASSWORD)
    ada.token = t.json()["access_token"]
    [told] = await wait_inbox(ada, "password_changed")
    assert told["title"] == "Your password was changed"
    auditor = await staff(http, stack, "auditor", "Aud Reset")
    rows = await audit_rows(http, auditor, limit=500)
    mine = [
        (r["action"], r["outcome"], r["reason_code"])
        for r in rows
        if r["target_id"] == ada.user_id and "password" in r["action"]
    ]
    assert ("request_password_reset", "accepted", None) in mine
    assert ("reset_password", "rejected", "wrong_reset_code") in mine
    assert ("reset_password", "accepted", None) in mine


async def test_an_unknown_email_is_answered_the_same_and_sent_nothing(
    http: httpx.AsyncClient, mailbox: Path
) -> None:
    known = await sign_up(http, "Ben Known")
    unknown = f"nobody.{uuid.uuid4().hex[:10]}@example.com"
    a, b = await _ask(http, known.email), await _ask(http, unknown)
    assert (a.status_code, a.json()) == (b.status_code, b.json()) == (202, a.json())
    wait_for_emailed_code(mailbox, known.email)
    assert messages_to(mailbox, unknown) == []
    r = await _reset(http, unknown, "ABCD-EFGH", **address_of_its_own())
    assert (r.status_code, r.json()["code"]) == (422, "wrong_reset_code"), r.text
    for bad in ({"email": known.email, "code": "ABCD-EFG0", "new_password": "x" * 20}, {}):
        r = await http.post("/api/v1/auth/password-reset/confirm", json=bad)
        assert (r.status_code, r.json()["code"]) == (400, "invalid_body"), r.text
    r = await _ask(http, "not an email")
    assert (r.status_code, r.json()["code"]) == (400, "invalid_body"), r.text


async def test_a_second_code_within_a_minute_is_not_sent_and_a_new_one_replaces_the_old(
    http: httpx.AsyncClient, mailbox: Path, db: asyncpg.Pool
) -> None:
    cat = await sign_up(http, "Cat Twice")
    await _ask(http, cat.email)
    first = wait_for_emailed_code(mailbox, cat.email)
    assert (await _ask(http, cat.email)).status_code == 202
    assert len(messages_to(mailbox, cat.email)) == 1  # not sent again so soon
    # A minute later (the clock moved on in the table), a new code replaces the first.
    await db.execute(
        "UPDATE users SET reset_code_expires_at = reset_code_expires_at - interval '61 seconds'"
        " WHERE id = $1",
        uuid.UUID(cat.user_id),
    )
    await _ask(http, cat.email)
    second = wait_for_emailed_code(mailbox, cat.email, seen=1)
    assert second != first
    r = await _reset(http, cat.email, first, **address_of_its_own())
    assert (r.status_code, r.json()["code"]) == (422, "wrong_reset_code"), r.text
    # Expired: refused although it is the latest.
    await db.execute(
        "UPDATE users SET reset_code_expires_at = now() - interval '1 second' WHERE id = $1",
        uuid.UUID(cat.user_id),
    )
    r = await _reset(http, cat.email, second, **address_of_its_own())
    assert (r.status_code, r.json()["code"]) == (422, "wrong_reset_code"), r.text
    assert (await sign_in(http, cat.email, PASSWORD)).status_code == 200  # unchanged


async def test_wrong_codes_lock_the_account_out_as_wrong_passwords_do(
    http: httpx.AsyncClient, stack: EmbeddedStack, mailbox: Path
) -> None:
    dan: Customer = await sign_up(http, "Dan Guessed")
    await _ask(http, dan.email)
    code = wait_for_emailed_code(mailbox, dan.email)
    limit = Settings.from_env(stack.env()).login_max_failures_per_account
    attacker = address_of_its_own()
    wrong = (c for c in ("ABCD-EFGH", "HGFE-DCBA", "JKLM-NPQR", "STUV-WXYZ", "2345-6789") * 2)
    for _ in range(limit):
        guess = next(wrong)
        if guess == code:
            guess = next(wrong)
        r = await _reset(http, dan.email, guess, **attacker)
        assert (r.status_code, r.json()["code"]) == (422, "wrong_reset_code"), r.text
    # Locked: the right code now waits too, from any address.
    r = await _reset(http, dan.email, code)
    assert (r.status_code, r.json()["code"]) == (429, "too_many_attempts"), r.text
    assert int(r.headers["retry-after"]) > 0


async def test_a_mail_that_cannot_be_sent_is_503_and_a_retry_sends_one_at_once(
    api_factory: Callable[..., ManagedProcess], tmp_path: Path
) -> None:
    """The mail provider fails (here: its folder cannot be made): 503 with Retry-After,
    not a 500; the code is dropped, so the retry is not taken for a second request
    within the minute and sends one at once."""
    (tmp_path / "mail").write_text("a file where the mail folder goes")
    api = await asyncio.to_thread(api_factory, extra_env={"BANK_DATA_DIR": str(tmp_path)})
    async with httpx.AsyncClient(base_url=api.url, timeout=30.0) as http:
        eve = await sign_up(http, "Eve Unmailed")
        r = await _ask(http, eve.email)
        assert (r.status_code, r.json()["code"]) == (503, "mail_unavailable"), r.text
        assert int(r.headers["retry-after"]) > 0
        (tmp_path / "mail").unlink()
        assert (await _ask(http, eve.email)).status_code == 202
        code = wait_for_emailed_code(tmp_path / "mail", eve.email)
        r = await _reset(http, eve.email, code)
        assert (r.status_code, r.json()) == (200, {"sessions_ended": 1}), r.text
