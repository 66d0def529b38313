"""A customer moves their account to a new email address: the password is asked, a code
goes to the new address, and only that code makes the change. From then on they sign in
with the new address; the old one is emailed a notice and the app says it too; sessions
stay; a password-reset code sent to the old address stops working. Wrong codes lock the
account out as wrong passwords do, and an address another account takes meanwhile voids
the change."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx

from infra.local.procs import ManagedProcess
from infra.local.stack import EmbeddedStack
from runtime.settings import Settings
from tests.integration.test_notifications import wait_inbox
from tests.support.addresses import address_of_its_own
from tests.support.customers import PASSWORD, sign_in, sign_up
from tests.support.mailbox import messages_to, text, wait_for_emailed_code, wait_for_mail
from tests.support.staff import audit_rows, staff


def _new_address(name: str) -> str:
    return f"{name}.{uuid.uuid4().hex[:10]}@example.net"


async def _start(
    http: httpx.AsyncClient, auth: dict[str, str], new_email: str, password: str = PASSWORD
) -> httpx.Response:
    return await http.post(
        "/api/v1/me/email", json={"new_email": new_email, "password": password}, headers=auth
    )


async def _confirm(
    http: httpx.AsyncClient, auth: dict[str, str], code: str, **headers: str
) -> httpx.Response:
    return await http.post(
        "/api/v1/me/email/confirm", json={"code": code}, headers={**auth, **headers}
    )


async def _me(http: httpx.AsyncClient, auth: dict[str, str]) -> dict:
    r = await http.get("/api/v1/me", headers=auth)
    assert r.status_code == 200, r.text
    body: dict = r.json()
    return body


async def test_a_customer_moves_their_account_to_a_new_email_with_the_code_sent_there(
    http: httpx.AsyncClient,
    stack: EmbeddedStack,
    mailbox: Path,
    cdc: ManagedProcess,
    notifications: ManagedProcess,
) -> None:
    ada = await sign_up(http, "Ada Moving")
    other = await sign_up(http, "Bob Elsewhere")
    old, new = ada.email, _new_address("ada")
    second = await sign_in(http, old)  # another device of hers
    assert second.status_code == 200
    second_auth = {"Authorization": f"Bearer {second.json()['access_token']}"}

    # Refused, changing nothing: a wrong password, her own address, another's, not an email.
    r = await _start(http, ada.auth, new, password="not my password at all")
    assert (r.status_code, r.json()["code"]) == (400, "wrong_password"), r.text
    r = await _start(http, ada.auth, old.upper())
    assert (r.status_code, r.json()["code"]) == (400, "same_email"), r.text
    r = await _start(http, ada.auth, other.email)
    assert (r.status_code, r.json()["code"]) == (409, "email_taken"), r.text
    r = await _start(http, ada.auth, "ada at home")
    assert r.status_code == 400 and "email address" in r.json()["detail"], r.text
    assert messages_to(mailbox, new) == [] and messages_to(mailbox, other.email) == []

    # A password-reset code she (or a thief of her old mailbox) asked for before the move.
    r = await http.post("/api/v1/auth/password-reset", json={"email": old})
    assert r.status_code == 202, r.text
    reset_code = wait_for_emailed_code(mailbox, old)

    r = await _start(http, ada.auth, new)
    assert r.status_code == 202, r.text
    assert r.json()["sent_to"] == new and r.json()["code_valid_for_seconds"] == 1800
    code = wait_for_emailed_code(mailbox, new)
    [mail] = messages_to(mailbox, new)
    assert mail["Subject"] == "Your code to change your email"
    me = await _me(http, ada.auth)  # nothing changed yet, but the app can say what waits
    assert (me["email"], me["email_change_pending_to"]) == (old, new)
    r = await http.post(
        "/graphql", json={"query": "{ me { email emailChangePendingTo } }"}, headers=ada.auth
    )
    assert r.json()["data"]["me"] == {"email": old, "emailChangePendingTo": new}, r.text
    assert (await sign_in(http, new)).status_code == 400
    r = await _start(http, ada.auth, new)  # a second code within a minute is not sent
    assert (r.status_code, r.json()["code"]) == (429, "too_many_attempts"), r.text
    assert int(r.headers["retry-after"]) > 0 and len(messages_to(mailbox, new)) == 1

    wrong = "ABCD-EFGH" if code != "ABCD-EFGH" else "HGFE-DCBA"
    r = await _confirm(http, ada.auth, wrong)
    assert (r.status_code, r.json()["code"]) == (422, "wrong_email_code"), r.text
    r = await _confirm(http, ada.auth, code.lower().replace("-", " "))  # as typed on a phone
    assert (r.status_code, r.json()) == (200, {"email": new}), r.text
    r = await _confirm(http, ada.auth, code)  # it works once
    assert (r.status_code, r.json()["code"]) == (422, "wrong_email_code"), r.text

    me = await _me(http, ada.auth)
    assert (me["email"], me["email_change_pending_to"]) == (new, None)
    assert (await _me(http, second_auth))["email"] == new  # her sessions stay
    assert (await sign_in(http, old)).status_code == 400
    assert (await sign_in(http, new.upper())).status_code == 200
    # The reset code sent to the old address does nothing now, under either address.
    for address in (old, new):
        r = await http.post(
            "/api/v1/auth/password-reset/confirm",
            json={"email": address, "code": reset_code, "new_password": "a thief's passphrase"},
            headers=address_of_its_own(),
        )
        assert (r.status_code, r.json()["code"]) == (422, "wrong_reset_code"), r.text

    # Told in the app and at the old address (a security alert); audited.
    [told] = await wait_inbox(ada, "email_changed")
    alert_subject = "Your email address was changed"
    alert = text(wait_for_mail(mailbox, old, alert_subject))
    assert alert.startswith("Hello Ada")
    assert f"Changed to {new} on " in alert and "Not you? Call us at once" in alert
    assert all(m["Subject"] != alert_subject for m in messages_to(mailbox, new))
    assert told["title"] == "Your email address was changed"
    assert told["body"].startswith(f"Changed to {new} on ")
    auditor = await staff(http, stack, "auditor", "Aud Email")
    rows = await audit_rows(http, auditor, limit=500)
    mine = [
        (r["action"], r["outcome"], r["reason_code"])
        for r in rows
        if r["target_id"] == ada.user_id and "email" in r["action"]
    ]
    for seen in (
        ("request_email_change", "rejected", "wrong_password"),
        ("request_email_change", "rejected", "same_email"),
        ("request_email_change", "rejected", "email_taken"),
        ("request_email_change", "accepted", None),
        ("change_email", "rejected", "wrong_email_code"),
        ("change_email", "accepted", None),
    ):
        assert seen in mine, (seen, mine)
    [accepted] = [
        r
        for r in rows
        if r["target_id"] == ada.user_id
        and r["action"] == "change_email"
        and r["outcome"] == "accepted"
    ]
    assert accepted["details"] == {"old_email": old, "new_email": new}


async def test_an_address_another_account_takes_meanwhile_voids_the_change(
    http: httpx.AsyncClient, mailbox: Path
) -> None:
    bea = await sign_up(http, "Bea Slow")
    wanted = _new_address("bea")
    assert (await _start(http, bea.auth, wanted)).status_code == 202
    code = wait_for_emailed_code(mailbox, wanted)
    r = await http.post(
        "/api/v1/auth/register",
        json={"email": wanted.upper(), "password": PASSWORD, "full_name": "Quick Cal"},
    )
    assert r.status_code == 201, r.text
    r = await _confirm(http, bea.auth, code)
    assert (r.status_code, r.json()["code"]) == (409, "email_taken"), r.text
    assert wanted in r.json()["detail"]
    me = await _me(http, bea.auth)
    assert (me["email"], me["email_change_pending_to"]) == (bea.email, None)
    assert (await sign_in(http, bea.email)).status_code == 200


async def test_mail_that_cannot_be_sent_is_503_changing_nothing_and_a_retry_sends_at_once(
    api_factory: Callable[..., ManagedProcess], tmp_path: Path
) -> None:
    """The mail provider fails (its folder cannot be made): asking for a code is 503
    with Retry-After, not a 500, and nothing waits for a code, so a retry sends one at
    once. Failing again when the change is made does not matter: the API sends no mail
    then (the old address's alert is the notification consumer's, retried until sent:
    tests/integration/test_notifications.py)."""
    mail = tmp_path / "mail"
    mail.write_text("a file where the mail folder goes")
    api = await asyncio.to_thread(api_factory, extra_env={"BANK_DATA_DIR": str(tmp_path)})
    async with httpx.AsyncClient(base_url=api.url, timeout=30.0) as http:
        eve = await sign_up(http, "Eve Unmailed")
        new = _new_address("eve")
        r = await _start(http, eve.auth, new)
        assert (r.status_code, r.json()["code"]) == (503, "mail_unavailable"), r.text
        assert int(r.headers["retry-after"]) > 0
        assert (await _me(http, eve.auth))["email_change_pending_to"] is None
        mail.unlink()
        assert (await _start(http, eve.auth, new)).status_code == 202  # not "sent recently"
        code = wait_for_emailed_code(mail, new)
        shutil.rmtree(mail)
        mail.write_text("the provider fails again")
        r = await _confirm(http, eve.auth, code)
        assert (r.status_code, r.json()) == (200, {"email": new}), r.text
        assert (await _me(http, eve.auth))["email"] == new
        assert (await sign_in(http, new)).status_code == 200


async def test_wrong_codes_lock_the_account_out_as_wrong_passwords_do(
    http: httpx.AsyncClient, stack: EmbeddedStack, mailbox: Path
) -> None:
    dan = await sign_up(http, "Dan Guessing")
    wanted = _new_address("dan")
    assert (await _start(http, dan.auth, wanted)).status_code == 202
    code = wait_for_emailed_code(mailbox, wanted)
    limit = Settings.from_env(stack.env()).login_max_failures_per_account
    guesses = iter(c for c in ("ABCD-EFGH", "HGFE-DCBA", "JKLM-NPQR", "STUV-WXYZ", "2345-6789"))
    for _ in range(limit):
        guess = next(guesses)
        guess = next(guesses) if guess == code else guess
        r = await _confirm(http, dan.auth, guess)
        assert (r.status_code, r.json()["code"]) == (422, "wrong_email_code"), r.text
    r = await _confirm(http, dan.auth, code)  # locked: the right code waits too
    assert (r.status_code, r.json()["code"]) == (429, "too_many_attempts"), r.text
    assert int(r.headers["retry-after"]) > 0
    assert (await _me(http, dan.auth))["email"] == dan.email
