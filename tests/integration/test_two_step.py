"""Two-step sign-in: a customer puts the bank in an authenticator app, confirms it with a
code, and from then on signs in with their password and a code; a stolen password alone
no longer signs in, no code works twice, and wrong codes lock the account out as wrong
passwords do. Turning it off takes a current code."""

from __future__ import annotations

import asyncio
import base64
import re
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx

from infra.local.procs import ManagedProcess
from infra.local.stack import EmbeddedStack
from runtime.settings import Settings
from server.adapters.secret_box import SecretBox
from server.application.totp import code_at, step_at
from tests.integration.test_notifications import wait_inbox
from tests.support.addresses import address_of_its_own
from tests.support.customers import PASSWORD, Customer, sign_up
from tests.support.staff import audit_rows, staff


def _secret(setup: dict[str, Any]) -> bytes:
    text = setup["secret"].replace(" ", "")
    return base64.b32decode(text + "=" * (-len(text) % 8))


async def _sign_in(
    http: httpx.AsyncClient, email: str, otp: str | None = None, **headers: str
) -> httpx.Response:
    form = {"grant_type": "password", "username": email, "password": PASSWORD}
    if otp is not None:
        form["otp"] = otp
    return await http.post("/api/v1/auth/token", data=form, headers=headers)


async def _me(c: Customer) -> dict[str, Any]:
    r = await c.http.get("/api/v1/me", headers=c.auth)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def _turned_on(c: Customer) -> tuple[bytes, int]:
    """Two-step sign-in on for ``c``; its secret and the step of the code that confirmed it."""
    secret, step, _ = await _turned_on_with_codes(c)
    return secret, step


async def _turned_on_with_codes(c: Customer) -> tuple[bytes, int, list[str]]:
    """... and the recovery codes it came with."""
    r = await c.http.post("/api/v1/me/two-step", headers=c.auth)
    assert r.status_code == 200, r.text
    secret = _secret(r.json())
    step = step_at(time.time())
    r = await c.http.post(
        "/api/v1/me/two-step/confirm", json={"code": code_at(secret, step)}, headers=c.auth
    )
    assert (r.status_code, r.json()["two_step"]) == (200, True), r.text
    codes = r.json()["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10, codes
    return secret, step, codes


async def test_a_customer_turns_two_step_sign_in_on_and_then_signs_in_with_a_code(
    http: httpx.AsyncClient, db: asyncpg.Pool, stack: EmbeddedStack
) -> None:
    ada = await sign_up(http, "Ada Two Step")
    assert (await _me(ada))["two_step"] is False
    r = await http.post("/api/v1/me/two-step", headers=ada.auth)
    assert r.status_code == 200, r.text
    setup = r.json()
    secret = _secret(setup)
    assert len(secret) == 20 and setup["setup_uri"].startswith("otpauth://totp/Bank:")
    assert setup["secret"].replace(" ", "") in setup["setup_uri"]
    # Nothing changes until a code from the app comes back.
    assert (await _sign_in(http, ada.email)).status_code == 200
    assert (await _me(ada))["two_step"] is False
    now = step_at(time.time())
    wrong = code_at(secret, now - 5)
    r = await http.post("/api/v1/me/two-step/confirm", json={"code": wrong}, headers=ada.auth)
    assert (r.status_code, r.json()["code"]) == (422, "wrong_two_step_code"), r.text
    for bad in ({"code": "12ab56"}, {"code": "123"}, {"code": "1234567"}, {}):
        r = await http.post("/api/v1/me/two-step/confirm", json=bad, headers=ada.auth)
        assert (r.status_code, r.json()["code"]) == (400, "invalid_body"), r.text
        if bad.get("code") in ("12ab56", "1234567"):  # said in words, not as the pattern
            assert r.json()["detail"] == (
                "Invalid request body: code: Expected the six digits an authenticator app"
                " shows, like 123456, or a recovery code, like ABCDE-FGHJK"
            ), r.text
    current = code_at(secret, now)
    r = await http.post(  # as some apps show it
        "/api/v1/me/two-step/confirm",
        json={"code": f"{current[:3]} {current[3:]}"},
        headers=ada.auth,
    )
    assert (r.status_code, r.json()["two_step"]) == (200, True), r.text
    assert (await _me(ada))["two_step"] is True
    r = await http.post("/graphql", json={"query": "{ me { twoStep } }"}, headers=ada.auth)
    assert r.json()["data"]["me"] == {"twoStep": True}, r.text
    r = await http.post("/api/v1/me/two-step", headers=ada.auth)  # no second app quietly
    assert (r.status_code, r.json()["code"]) == (409, "two_step_already_on"), r.text

    # The secret is sealed at rest: the table does not hold it.
    stored = await db.fetchval(
        "SELECT totp_secret FROM users WHERE id = $1", uuid.UUID(ada.user_id)
    )
    assert stored and secret not in bytes(stored)

    # The password alone: asked for the code (the app then sends both again).
    r = await _sign_in(http, ada.email)
    assert (r.status_code, r.json()["code"]) == (400, "two_step_required"), r.text
    assert "authenticator app" in r.json()["detail"]
    r = await _sign_in(http, ada.email, wrong)
    assert (r.status_code, r.json()["code"]) == (400, "wrong_two_step_code"), r.text
    # The confirming code was used: it does not sign in. A code of the next step does
    # (a phone a little ahead), once.
    r = await _sign_in(http, ada.email, code_at(secret, now))
    assert (r.status_code, r.json()["code"]) == (400, "wrong_two_step_code"), r.text
    ahead = code_at(secret, now + 1)
    r = await _sign_in(http, ada.email, f"{ahead[:3]} {ahead[3:]}")
    assert r.status_code == 200, r.text
    refresh_token = r.json()["refresh_token"]
    r = await _sign_in(http, ada.email, ahead)
    assert (r.status_code, r.json()["code"]) == (400, "wrong_two_step_code"), r.text
    # A refresh goes on with the session the code opened: no code again.
    r = await http.post(
        "/api/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token}
    )
    assert r.status_code == 200, r.text

    auditor = await staff(http, stack, "auditor", "Aud Two Step")
    rows = await audit_rows(http, auditor, limit=500)
    sign_ins = [
        (r["outcome"], r["reason_code"])
        for r in rows
        if r["action"] == "sign_in" and r["details"].get("username") == ada.email
    ]
    assert ("rejected", "two_step_required") in sign_ins
    assert sign_ins.count(("rejected", "wrong_two_step_code")) == 3
    turned_on = [
        (r["outcome"], r["reason_code"])
        for r in rows
        if r["action"] == "turn_on_two_step" and r["target_id"] == ada.user_id
    ]
    assert sorted(turned_on, key=str) == sorted(
        [("accepted", None), ("rejected", "wrong_two_step_code")], key=str
    )


async def test_wrong_codes_lock_the_account_out_as_wrong_passwords_do(
    http: httpx.AsyncClient, stack: EmbeddedStack
) -> None:
    bob = await sign_up(http, "Bob Guessed")
    secret, step = await _turned_on(bob)
    attacker = address_of_its_own()
    limit = Settings.from_env(stack.env()).login_max_failures_per_account
    used = {code_at(secret, s) for s in range(step - 1, step + 3)}
    guesses = (f"{n:06d}" for n in range(1_000_000) if f"{n:06d}" not in used)
    for _ in range(limit):
        r = await _sign_in(http, bob.email, next(guesses), **attacker)
        assert (r.status_code, r.json()["code"]) == (400, "wrong_two_step_code"), r.text
    # Locked: the right code now waits too.
    r = await _sign_in(http, bob.email, code_at(secret, step + 1))
    assert (r.status_code, r.json()["code"]) == (429, "too_many_attempts"), r.text


async def test_two_step_sign_in_is_turned_off_with_a_current_code_only(
    http: httpx.AsyncClient,
    cdc: ManagedProcess,
    projections: ManagedProcess,
    notifications: ManagedProcess,
) -> None:
    cy = await sign_up(http, "Cy Turning Off")
    r = await http.post("/api/v1/me/two-step/confirm", json={"code": "123456"}, headers=cy.auth)
    assert (r.status_code, r.json()["code"]) == (409, "two_step_not_started"), r.text
    secret, step = await _turned_on(cy)
    # A session left open is no way round it: the code is asked for.
    r = await http.post(
        "/api/v1/me/two-step/off", json={"code": code_at(secret, step)}, headers=cy.auth
    )
    assert (r.status_code, r.json()["code"]) == (422, "wrong_two_step_code"), r.text  # used
    assert (await _me(cy))["two_step"] is True
    r = await http.post(
        "/api/v1/me/two-step/off", json={"code": code_at(secret, step + 1)}, headers=cy.auth
    )
    assert (r.status_code, r.json()) == (200, {"two_step": False}), r.text
    assert (await _me(cy))["two_step"] is False
    assert (await _sign_in(http, cy.email)).status_code == 200  # the password alone again
    # Off already: the same answer (a retry after a lost one).
    r = await http.post("/api/v1/me/two-step/off", json={"code": "123456"}, headers=cy.auth)
    assert (r.status_code, r.json()) == (200, {"two_step": False}), r.text
    # Both changes are told to the customer (done by someone else with the password, one
    # locks them out, the other weakens the account); the retry is not.
    for kind, title in (
        ("two_step_on", "Two-step sign-in was turned on"),
        ("two_step_off", "Two-step sign-in was turned off"),
    ):
        [told] = await wait_inbox(cy, kind)
        assert told["title"] == title and "Not you?" in told["body"], told
    assert len(await wait_inbox(cy, "two_step_off", count=2, timeout=2)) == 1


async def test_staff_turn_it_off_for_a_customer_who_lost_their_phone(
    http: httpx.AsyncClient,
    stack: EmbeddedStack,
    cdc: ManagedProcess,
    projections: ManagedProcess,
    notifications: ManagedProcess,
) -> None:
    dora = await sign_up(http, "Dora Lost Phone")
    await _turned_on(dora)
    assert (await _sign_in(http, dora.email)).json()["code"] == "two_step_required"
    boss = await staff(http, stack, "admin", "Adm Reset")
    teller = await staff(http, stack, "teller", "Tel Reset")
    path = f"/api/v1/admin/users/{dora.user_id}/two-step/off"
    for who, status in ((dora, 403), (teller, 403)):
        r = await http.post(path, headers=who.auth)
        assert (r.status_code, r.json()["code"]) == (status, "forbidden"), r.text
    r = await http.post(f"/api/v1/admin/users/{boss.user_id}/two-step/off", headers=boss.auth)
    assert (r.status_code, r.json()["code"]) == (403, "forbidden"), r.text  # one's own: a code
    r = await http.post(f"/api/v1/admin/users/{uuid.uuid4()}/two-step/off", headers=boss.auth)
    assert (r.status_code, r.json()["code"]) == (404, "user_not_found"), r.text

    r = await http.post(path, headers=boss.auth)
    assert (r.status_code, r.json()) == (200, {"two_step": False}), r.text
    # Every session of hers ended (the lost phone may hold one); the password alone
    # signs her in again, and she is told.
    r = await http.get("/api/v1/me", headers=dora.auth)
    assert (r.status_code, r.json()["code"]) == (401, "session_revoked"), r.text
    again = await _sign_in(http, dora.email)
    assert again.status_code == 200, again.text
    dora.token = again.json()["access_token"]
    assert (await _me(dora))["two_step"] is False
    [told] = await wait_inbox(dora, "two_step_off")
    assert told["body"].startswith("The bank turned it off as you asked"), told
    assert (await http.post(path, headers=boss.auth)).json() == {"two_step": False}  # a retry
    assert len(await wait_inbox(dora, "two_step_off", count=2, timeout=2)) == 1
    r = await http.get("/api/v1/notifications", headers=boss.auth)
    assert [n for n in r.json()["items"] if n["kind"] == "two_step_off"] == []  # not the admin's


async def test_one_code_sent_twice_at_once_signs_in_once(http: httpx.AsyncClient) -> None:
    """The step is taken in one conditional UPDATE: of two sign-ins racing with the same
    code, one gets a session and the other is refused as a used code."""
    eve = await sign_up(http, "Eve Racing")
    secret, step = await _turned_on(eve)
    code = code_at(secret, step + 1)
    answers = await asyncio.gather(*(_sign_in(http, eve.email, code) for _ in range(2)))
    assert sorted(r.status_code for r in answers) == [200, 400], [r.text for r in answers]
    [refused] = [r for r in answers if r.status_code == 400]
    assert refused.json()["code"] == "wrong_two_step_code"


async def test_a_secret_the_key_does_not_open_is_503_and_signs_nobody_in(
    http: httpx.AsyncClient, db: asyncpg.Pool
) -> None:
    """Sealed under a key the API no longer has (the signing key was changed): no code
    can be checked, and none is skipped; the bank says so, not a 500."""
    fay = await sign_up(http, "Fay Old Key")
    secret, step = await _turned_on(fay)
    await db.execute(
        "UPDATE users SET totp_secret = $2 WHERE id = $1",
        uuid.UUID(fay.user_id),
        SecretBox("a key this API never had").seal(uuid.UUID(fay.user_id), secret),
    )
    r = await _sign_in(http, fay.email, code_at(secret, step + 1))
    assert (r.status_code, r.json()["code"]) == (503, "two_step_unavailable"), r.text
    assert int(r.headers["retry-after"]) > 0
    r = await _sign_in(http, fay.email)  # without a code: still asked for one
    assert (r.status_code, r.json()["code"]) == (400, "two_step_required"), r.text


OLD_KEY = "the signing key before it was rotated"
NEW_KEY = "a sealing key of the bank's own"


async def _sealed_under(db: asyncpg.Pool, c: Customer, key: str, secret: bytes) -> None:
    """As if ``c``'s secret had been sealed under ``key`` (before a rotation)."""
    user_id = uuid.UUID(c.user_id)
    await db.execute(
        "UPDATE users SET totp_secret = $2 WHERE id = $1",
        user_id,
        SecretBox(key).seal(user_id, secret),
    )


async def _opens_under_the_new_key_alone(db: asyncpg.Pool, c: Customer, column: str) -> bytes:
    user_id = uuid.UUID(c.user_id)
    sealed = await db.fetchval(f"SELECT {column} FROM users WHERE id = $1", user_id)
    return SecretBox(NEW_KEY).open(user_id, sealed)


async def test_after_a_key_rotation_the_old_secrets_open_and_are_sealed_again(
    api_factory: Callable[..., ManagedProcess], db: asyncpg.Pool
) -> None:
    """The signing key was rotated with the old one listed in BANK_SEALING_KEYS: a
    customer's secret sealed under it still signs in, and is sealed again under the
    first key at that sign-in, so that the old key can go."""
    keys = {"BANK_SEALING_KEYS": f"{NEW_KEY},{OLD_KEY}"}
    api = await asyncio.to_thread(api_factory, extra_env=keys)
    async with httpx.AsyncClient(base_url=api.url, timeout=30.0) as http:
        gus = await sign_up(http, "Gus Rotated")
        secret, step = await _turned_on(gus)
        assert await _opens_under_the_new_key_alone(db, gus, "totp_secret") == secret
        await _sealed_under(db, gus, OLD_KEY, secret)

        r = await _sign_in(http, gus.email, code_at(secret, step + 1))
        assert r.status_code == 200, r.text
        assert await _opens_under_the_new_key_alone(db, gus, "totp_secret") == secret
        r = await _sign_in(http, gus.email, code_at(secret, step + 1))  # still used once
        assert (r.status_code, r.json()["code"]) == (400, "wrong_two_step_code"), r.text
        # A recovery code kept before the rotation (its digest under the old key) works.
        gus_id = uuid.UUID(gus.user_id)
        [kept] = SecretBox(OLD_KEY).digests(gus_id, "KEPTEARLY2")
        await db.execute("INSERT INTO two_step_recovery_codes VALUES ($1, $2)", gus_id, kept)
        r = await _sign_in(http, gus.email, "keptE-arly2")
        assert r.status_code == 200, r.text


async def test_the_operator_seals_every_secret_again_in_one_run(
    http: httpx.AsyncClient, db: asyncpg.Pool, stack: EmbeddedStack
) -> None:
    """``python -m server.maintenance reseal-secrets`` seals every secret in use or
    pending under the first key; a secret no key opens is named and fails the run."""
    hal, ivy, kim = [await sign_up(http, name) for name in ("Hal", "Ivy", "Kim")]
    hal_secret, _ = await _turned_on(hal)
    await _sealed_under(db, hal, OLD_KEY, hal_secret)
    r = await ivy.http.post("/api/v1/me/two-step", headers=ivy.auth)  # shown, not confirmed
    ivy_secret = _secret(r.json())
    ivy_id = uuid.UUID(ivy.user_id)
    await db.execute(
        "UPDATE users SET totp_pending = $2 WHERE id = $1",
        ivy_id,
        SecretBox(OLD_KEY).seal(ivy_id, ivy_secret),
    )
    kim_secret, _ = await _turned_on(kim)
    await _sealed_under(db, kim, "a key nobody kept", kim_secret)

    env = stack.process_env({"BANK_SEALING_KEYS": f"{NEW_KEY},{OLD_KEY}"})
    run = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server.maintenance",
        "reseal-secrets",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out = (await run.communicate())[0].decode()
    assert run.returncode == 1, out  # Kim's secret opens under no key
    assert f"user {kim.user_id}:" in out and f"user {hal.user_id}:" not in out, out
    assert await _opens_under_the_new_key_alone(db, hal, "totp_secret") == hal_secret
    assert await _opens_under_the_new_key_alone(db, ivy, "totp_pending") == ivy_secret


async def test_turning_a_customers_two_step_off_waits_for_a_second_admin(
    http: httpx.AsyncClient,
    stack: EmbeddedStack,
    db: asyncpg.Pool,
    api_factory: Callable[..., ManagedProcess],
    notifications: ManagedProcess,
) -> None:
    """The help desk's usual attack is a caller who says they are a customer who lost
    their phone: with four eyes on it (the default) one admin asks and another decides;
    until then the customer's code is still asked and her sessions go on."""
    dora = await sign_up(http, "Dora Four Eyes")
    await _turned_on(dora)
    maker = await staff(http, stack, "admin", "Max Maker")
    checker = await staff(http, stack, "admin", "Cleo Checker")
    teller = await staff(http, stack, "teller", "Tess Teller")
    api = api_factory(extra_env={"BANK_APPROVAL_REQUIRED": "reset_two_step"})
    async with httpx.AsyncClient(base_url=str(api.url), timeout=30) as h:
        path = f"/api/v1/admin/users/{dora.user_id}/two-step/off"
        # refused at once, not when someone approves: nobody, a teller, one's own
        r = await h.post(f"/api/v1/admin/users/{uuid.uuid4()}/two-step/off", headers=maker.auth)
        assert (r.status_code, r.json()["code"]) == (404, "user_not_found"), r.text
        for who, target in ((teller, dora.user_id), (maker, maker.user_id)):
            r = await h.post(f"/api/v1/admin/users/{target}/two-step/off", headers=who.auth)
            assert (r.status_code, r.json()["code"]) == (403, "forbidden"), r.text
        keyed = {**maker.auth, "Idempotency-Key": str(uuid.uuid4())}
        r = await h.post(path, headers=keyed)
        assert r.status_code == 202, r.text
        approval_id = r.json()["approval_id"]
        again = await h.post(path, headers=keyed)  # a retry: the same request
        assert again.status_code == 202 and again.json()["approval_id"] == approval_id
        # Nothing changed yet.
        assert (await _sign_in(h, dora.email)).json()["code"] == "two_step_required"
        assert (await h.get("/api/v1/me", headers=dora.auth)).status_code == 200
        # Not the maker; not a teller (the command refuses them, the request waits on).
        r = await h.post(f"/api/v1/approvals/{approval_id}/approve", headers=maker.auth)
        assert r.status_code == 403, r.text
        r = await h.post(f"/api/v1/approvals/{approval_id}/approve", headers=teller.auth)
        assert r.status_code == 403, r.text
        r = await h.post(f"/api/v1/approvals/{approval_id}/approve", headers=checker.auth)
        assert (r.status_code, r.json()["result_status"]) == (200, 200), r.text
        # Done: her sessions ended, her password alone signs her in, and she is told.
        r = await h.get("/api/v1/me", headers=dora.auth)
        assert (r.status_code, r.json()["code"]) == (401, "session_revoked"), r.text
        again = await _sign_in(h, dora.email)
        assert again.status_code == 200, again.text
        dora.token = again.json()["access_token"]
    [told] = await wait_inbox(dora, "two_step_off")
    assert told["body"].startswith("The bank turned it off as you asked"), told
    trail = await db.fetch(
        "SELECT action, outcome, actor_id::text AS actor FROM audit_log"
        " WHERE target_id IN ($1, $2) ORDER BY id",
        dora.user_id,
        approval_id,
    )
    got = [(t["action"], t["outcome"], t["actor"]) for t in trail]
    assert ("approval_requested", "accepted", maker.user_id) in got
    assert ("reset_two_step", "accepted", checker.user_id) in got
    assert ("reset_two_step", "accepted", maker.user_id) not in got


async def test_a_customer_who_lost_their_phone_signs_in_with_a_recovery_code_once(
    http: httpx.AsyncClient,
    db: asyncpg.Pool,
    stack: EmbeddedStack,
    cdc: ManagedProcess,
    projections: ManagedProcess,
    notifications: ManagedProcess,
) -> None:
    """Turning two-step sign-in on gives ten recovery codes; each signs in once instead of
    a code from the app, the customer is told of it and how many are left, and a new set
    or turning it off voids the old ones."""
    fay = await sign_up(http, "Fay Lost Phone")
    secret, step, codes = await _turned_on_with_codes(fay)
    for code in codes:
        assert re.fullmatch(r"[A-HJ-NP-Z2-9]{5}-[A-HJ-NP-Z2-9]{5}", code), code
    assert (await _me(fay))["recovery_codes_left"] == 10
    # Only keyed digests are kept: the table does not hold the codes.
    kept = await db.fetch(
        "SELECT digest FROM two_step_recovery_codes WHERE user_id = $1", uuid.UUID(fay.user_id)
    )
    assert len(kept) == 10
    assert not any(c.replace("-", "").encode() in bytes(k["digest"]) for c in codes for k in kept)

    # As people type it; then used.
    first = codes[0].lower().replace("-", " ")
    r = await _sign_in(http, fay.email, first, **{"User-Agent": "Fay's new phone"})
    assert r.status_code == 200, r.text
    r = await _sign_in(http, fay.email, first)
    assert (r.status_code, r.json()["code"]) == (400, "wrong_two_step_code"), r.text
    assert "recovery code" in r.json()["detail"], r.text
    r = await _sign_in(http, fay.email, "ABCDE-FGHJK")  # not one of hers
    assert (r.status_code, r.json()["code"]) == (400, "wrong_two_step_code"), r.text
    # Two sign-ins racing with one code: one session.
    answers = await asyncio.gather(*(_sign_in(http, fay.email, codes[1]) for _ in range(2)))
    assert sorted(a.status_code for a in answers) == [200, 400], [a.text for a in answers]
    assert (await _me(fay))["recovery_codes_left"] == 8
    r = await http.post(
        "/graphql", json={"query": "{ me { twoStep recoveryCodesLeft } }"}, headers=fay.auth
    )
    assert r.json()["data"]["me"] == {"twoStep": True, "recoveryCodesLeft": 8}, r.text
    # She is told, with how many are left; the audit trail has it.
    told = await wait_inbox(fay, "new_sign_in", count=3)  # with the sign-up's
    recovered = [n for n in told if n["title"] == "Signed in with a recovery code"]
    assert len(recovered) == 2, told
    assert any(
        "Fay's new phone" in n["body"] and "9 recovery codes left" in n["body"] for n in recovered
    ), recovered
    auditor = await staff(http, stack, "auditor", "Aud Recovery")
    lefts = sorted(
        r["details"].get("recovery_codes_left", -1)
        for r in await audit_rows(http, auditor, limit=500)
        if r["action"] == "sign_in"
        and r["outcome"] == "accepted"
        and r["details"].get("username") == fay.email
    )
    assert lefts == [-1, 8, 9], lefts  # and the sign-up's, with none

    # New codes take a current code (a wrong one counts as a failed sign-in does); the
    # old ones stop working.
    path = "/api/v1/me/two-step/recovery-codes"
    r = await http.post(path, json={"code": code_at(secret, step)}, headers=fay.auth)  # used
    assert (r.status_code, r.json()["code"]) == (422, "wrong_two_step_code"), r.text
    r = await http.post(path, json={"code": code_at(secret, step + 1)}, headers=fay.auth)
    assert r.status_code == 200, r.text
    fresh = r.json()["recovery_codes"]
    assert len(fresh) == 10 and not set(fresh) & set(codes)
    assert (await _me(fay))["recovery_codes_left"] == 10
    r = await _sign_in(http, fay.email, codes[2])
    assert (r.status_code, r.json()["code"]) == (400, "wrong_two_step_code"), r.text

    # Turned off with a recovery code (her phone is gone): the codes go with it.
    r = await http.post("/api/v1/me/two-step/off", json={"code": fresh[0]}, headers=fay.auth)
    assert (r.status_code, r.json()) == (200, {"two_step": False}), r.text
    assert (await _me(fay))["recovery_codes_left"] == 0
    gone = await db.fetchval(
        "SELECT count(*) FROM two_step_recovery_codes WHERE user_id = $1", uuid.UUID(fay.user_id)
    )
    assert gone == 0
    r = await http.post(path, json={"code": "123456"}, headers=fay.auth)
    assert (r.status_code, r.json()["code"]) == (409, "two_step_not_on"), r.text
    assert (await _sign_in(http, fay.email, fresh[1])).status_code == 200  # password alone now
