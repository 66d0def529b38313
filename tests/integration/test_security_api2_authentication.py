"""OWASP API2:2023 Broken Authentication.

Forged, expired, tampered, wrong-key and ``alg: none`` tokens are refused;
refresh tokens rotate and a reused one ends the whole session; logout and
session revocation take effect on the next request (HTTP and WebSocket);
repeated failed sign-ins lock the account and the client IP out; passwords
are argon2id hashes and weak ones are refused with a reason; changing the password
takes the current one and ends every other session.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
import jwt
import pytest
from websockets.asyncio.client import connect

from infra.local.procs import ManagedProcess
from infra.local.stack import EmbeddedStack
from runtime.settings import Settings
from tests.integration.test_live import hello, ws_url
from tests.support.addresses import address_of_its_own
from tests.support.customers import PASSWORD, Customer, sign_in, sign_up
from tests.support.staff import audit_rows, staff


def _claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})  # type: ignore[no-any-return]


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def _status(http: httpx.AsyncClient, token: str) -> int:
    r = await http.get("/api/v1/accounts", headers={"Authorization": f"Bearer {token}"})
    return r.status_code


async def _signed_in(http: httpx.AsyncClient, name: str) -> tuple[Customer, dict[str, Any]]:
    """A customer and the full token response of a fresh sign-in."""
    ada = await sign_up(http, name)
    r = await sign_in(http, ada.email)
    assert r.status_code == 200, r.text
    return ada, r.json()


async def _refresh(http: httpx.AsyncClient, refresh_token: str) -> httpx.Response:
    return await http.post(
        "/api/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token}
    )


async def test_api2_broken_authentication_token_claims_and_lifetime(
    http: httpx.AsyncClient,
) -> None:
    _, tokens = await _signed_in(http, "Ada Claims")
    claims = _claims(tokens["access_token"])
    assert {"sub", "exp", "iat", "sid", "role", "jti"} <= claims.keys()
    assert claims["exp"] - claims["iat"] <= 15 * 60
    assert tokens["expires_in"] <= 15 * 60
    assert tokens["token_type"] == "bearer" and tokens["refresh_token"]
    # The refresh token is opaque: not a JWT, nothing to read in it.
    with pytest.raises(jwt.DecodeError):
        jwt.decode(tokens["refresh_token"], options={"verify_signature": False})


async def test_api2_broken_authentication_forged_tokens_are_refused(
    http: httpx.AsyncClient,
    stack: EmbeddedStack,
) -> None:
    _, tokens = await _signed_in(http, "Ada Forged")
    good = tokens["access_token"]
    assert await _status(http, good) == 200
    claims = _claims(good)
    key = Settings.from_env(stack.env()).signing_key()
    now = int(time.time())

    expired = jwt.encode({**claims, "iat": now - 1000, "exp": now - 60}, key, algorithm="HS256")
    wrong_key = jwt.encode(claims, "not-the-servers-key-" * 3, algorithm="HS256")
    header, _, signature = good.split(".")
    tampered = ".".join([header, _b64({**claims, "role": "admin"}), signature])
    alg_none = ".".join([_b64({"alg": "none", "typ": "JWT"}), _b64(claims), ""])
    no_session = jwt.encode({k: v for k, v in claims.items() if k != "sid"}, key, algorithm="HS256")
    unknown_session = jwt.encode({**claims, "sid": uuid.uuid4().hex}, key, algorithm="HS256")
    bad_role = jwt.encode({**claims, "role": "root"}, key, algorithm="HS256")

    # Each is refused with a challenge (RFC 6750) and a code that says what to do: an
    # expired token is renewed, an ended session signed in again; a forged one says only
    # "unauthorized" (its signature decides nothing more).
    for name, token, code in [
        ("expired", expired, "token_expired"),
        ("wrong key", wrong_key, "unauthorized"),
        ("tampered", tampered, "unauthorized"),
        ("alg none", alg_none, "unauthorized"),
        ("no sid", no_session, "unauthorized"),
        ("unknown session", unknown_session, "session_revoked"),
        ("unknown role", bad_role, "unauthorized"),
        ("garbage", "x.y.z", "unauthorized"),
    ]:
        r = await http.get("/api/v1/accounts", headers={"Authorization": f"Bearer {token}"})
        assert (r.status_code, r.json()["code"]) == (401, code), (name, r.text)
        assert r.headers["www-authenticate"] == 'Bearer realm="bank", error="invalid_token"'
    r = await http.get("/api/v1/accounts", headers={"Authorization": f"Bearer {expired}"})
    assert "grant_type=refresh_token" in r.json()["detail"]
    r = await http.get("/api/v1/accounts")
    assert r.headers["www-authenticate"] == 'Bearer realm="bank"'
    # Still fine with the real one.
    assert await _status(http, good) == 200


async def test_api2_broken_authentication_refresh_rotates_and_reuse_revokes_the_family(
    http: httpx.AsyncClient,
    stack: EmbeddedStack,
) -> None:
    ada, first = await _signed_in(http, "Ada Rotate")
    r = await _refresh(http, first["refresh_token"])
    assert r.status_code == 200, r.text
    second = r.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert _claims(second["access_token"])["sid"] == _claims(first["access_token"])["sid"]
    assert r.headers["cache-control"] == "no-store"
    assert await _status(http, second["access_token"]) == 200

    # A thief replays the first (already used) refresh token: the whole session ends.
    r = await _refresh(http, first["refresh_token"])
    assert r.status_code == 400 and r.json()["code"] == "invalid_grant"
    assert "already used" in r.json()["detail"]
    assert (await _refresh(http, second["refresh_token"])).status_code == 400
    assert await _status(http, second["access_token"]) == 401
    assert await _status(http, first["access_token"]) == 401
    # Other sessions of the user are not affected.
    assert (await sign_in(http, ada.email)).status_code == 200

    for junk in ["", "nonsense", "a.b", f"{_claims(first['access_token'])['sid']}.guess"]:
        r = await _refresh(http, junk)
        assert r.status_code == 400, junk

    auditor = await staff(http, stack, "auditor", "Aud Refresh")
    refreshes = [
        (row["outcome"], row["reason_code"])
        for row in await audit_rows(http, auditor, actor=ada.user_id)
        if row["action"] == "refresh_token"
    ]
    assert ("accepted", None) in refreshes and ("rejected", "refresh_token_reused") in refreshes


async def test_api2_broken_authentication_logout_and_session_revocation(
    http: httpx.AsyncClient,
    api_url: str,
) -> None:
    ada, laptop = await _signed_in(http, "Ada Devices")
    r = await sign_in(http, ada.email)
    phone = r.json()
    laptop_auth = {"Authorization": f"Bearer {laptop['access_token']}"}

    r = await http.get("/api/v1/auth/sessions", headers=laptop_auth)
    assert r.status_code == 200
    sessions = r.json()["items"]
    phone_sid = _claims(phone["access_token"])["sid"]
    laptop_sid = _claims(laptop["access_token"])["sid"]
    assert {laptop_sid, phone_sid} <= {s["id"] for s in sessions}
    assert [s["id"] for s in sessions if s["current"]] == [laptop_sid]

    # The phone is lost: end its session from the laptop. Its tokens stop at once.
    assert await _status(http, phone["access_token"]) == 200
    r = await http.delete(f"/api/v1/auth/sessions/{phone_sid}", headers=laptop_auth)
    assert r.status_code == 204, r.text
    assert await _status(http, phone["access_token"]) == 401
    assert (await _refresh(http, phone["refresh_token"])).status_code == 400
    async with connect(ws_url(api_url, phone["access_token"])) as ws:
        msg = await hello(ws)
        assert msg["type"] == "Error" and msg["code"] == "unauthorized"

    # Someone else's session id is simply not found.
    eve, _ = await _signed_in(http, "Eve Other")
    r = await http.delete(f"/api/v1/auth/sessions/{laptop_sid}", headers=eve.auth)
    assert r.status_code == 404
    assert await _status(http, laptop["access_token"]) == 200

    # Logout ends the laptop's session.
    r = await http.post("/api/v1/auth/logout", headers=laptop_auth)
    assert r.status_code == 204
    r = await http.get("/api/v1/accounts", headers=laptop_auth)
    assert (r.status_code, r.json()["code"]) == (401, "session_revoked"), r.text
    assert "signed out" in r.json()["detail"]
    assert (await _refresh(http, laptop["refresh_token"])).status_code == 400
    assert (await http.post("/api/v1/auth/logout", headers=laptop_auth)).status_code == 401


async def test_api2_broken_authentication_account_lockout_after_failed_sign_ins(
    http: httpx.AsyncClient,
    stack: EmbeddedStack,
) -> None:
    ada = await sign_up(http, "Ada Targeted")
    attacker = address_of_its_own()
    limit = Settings.from_env(stack.env()).login_max_failures_per_account
    for _ in range(limit):
        r = await http.post(
            "/api/v1/auth/token",
            headers=attacker,
            data={"grant_type": "password", "username": ada.email, "password": "wrong guess " * 2},
        )
        assert r.status_code == 400 and r.json()["code"] == "invalid_grant"
    # Locked: even the right password (from anywhere) now waits.
    r = await sign_in(http, ada.email, PASSWORD)
    assert r.status_code == 429, r.text
    assert r.json()["code"] == "too_many_attempts"
    assert 0 < int(r.headers["retry-after"]) <= Settings().login_lockout_seconds
    # Another account is not affected.
    bob = await sign_up(http, "Bob Unaffected")
    assert (await sign_in(http, bob.email)).status_code == 200

    auditor = await staff(http, stack, "auditor", "Aud Lockout")
    rows = [
        r
        for r in await audit_rows(http, auditor, limit=500)
        if r["action"] == "sign_in" and r["details"].get("username") == ada.email
    ]
    reasons = [r["reason_code"] for r in rows if r["outcome"] == "rejected"]
    assert reasons.count("invalid_credentials") == limit and "locked_out" in reasons
    assert {r["client_ip"] for r in rows if r["reason_code"] == "invalid_credentials"} == {
        attacker["X-Forwarded-For"]
    }
    # The one sign-in that worked is the one at sign-up, before the attack.
    assert [r["actor_id"] for r in rows if r["outcome"] == "accepted"] == [ada.user_id]


async def test_api2_broken_authentication_ip_lockout_after_failed_sign_ins(
    http: httpx.AsyncClient,
    api_factory: Callable[..., ManagedProcess],
) -> None:
    strict = api_factory(extra_env={"BANK_LOGIN_MAX_FAILURES_PER_IP": "3"})
    ada = await sign_up(http, "Ada Innocent")
    spray_ip = address_of_its_own()
    async with httpx.AsyncClient(base_url=strict.url, timeout=30) as api:
        for i in range(3):  # password spraying: one guess each at many accounts
            r = await api.post(
                "/api/v1/auth/token",
                headers=spray_ip,
                data={
                    "grant_type": "password",
                    "username": f"victim{i}.{uuid.uuid4().hex[:6]}@example.com",
                    "password": "Summer2024!!",
                },
            )
            assert r.status_code == 400
        r = await api.post(
            "/api/v1/auth/token",
            headers=spray_ip,
            data={"grant_type": "password", "username": ada.email, "password": PASSWORD},
        )
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
        # The same account from another address signs in.
        r = await api.post(
            "/api/v1/auth/token",
            headers={"X-Forwarded-For": "192.0.2.10"},
            data={"grant_type": "password", "username": ada.email, "password": PASSWORD},
        )
        assert r.status_code == 200, r.text


async def test_api2_broken_authentication_passwords_are_argon2id_and_weak_ones_refused(
    http: httpx.AsyncClient,
    db: asyncpg.Pool,
) -> None:
    ada = await sign_up(http, "Ada Hashed")
    stored = await db.fetchval(
        "SELECT password_hash FROM users WHERE id = $1", uuid.UUID(ada.user_id)
    )
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert (
        await db.fetchval("SELECT count(*) FROM users WHERE password_hash NOT LIKE '$argon2id$%'")
        == 0
    )

    email = f"grace.hopper.{uuid.uuid4().hex[:6]}@example.com"
    for password, reason in [
        ("short", "at least 12 characters"),
        ("password1234", "first that attackers try"),
        ("aaaaaaaaaaaaaaaa", "first that attackers try"),
        (email, "email or name"),
        (email.split("@")[0] + "1", "email or name"),
    ]:
        r = await http.post(
            "/api/v1/auth/register",
            json={"email": email, "password": password, "full_name": "Grace Hopper"},
        )
        assert r.status_code == 400, (password, r.text)
        assert r.json()["code"] == "weak_password" and reason in r.json()["detail"], password


async def test_api2_broken_authentication_an_open_live_feed_closes_when_its_session_ends(
    http: httpx.AsyncClient,
    api_url: str,
) -> None:
    from websockets.exceptions import ConnectionClosed

    from tests.integration.test_live import recv

    ada, laptop = await _signed_in(http, "Ada Left Open")
    async with connect(ws_url(api_url, laptop["access_token"])) as ws:
        assert (await hello(ws))["type"] == "Welcome"
        r = await http.post(
            "/api/v1/auth/logout", headers={"Authorization": f"Bearer {laptop['access_token']}"}
        )
        assert r.status_code == 204
        started = time.monotonic()
        seen: list[dict[str, Any]] = []
        try:
            while True:
                seen.append(await recv(ws, timeout=10))
        except ConnectionClosed:
            pass
        assert time.monotonic() - started < 8
        assert seen and seen[-1]["type"] == "Error" and seen[-1]["code"] == "session_revoked"
        assert ws.close_code == 4401


async def test_api2_broken_authentication_changing_the_password_ends_the_other_sessions(
    http: httpx.AsyncClient,
    stack: EmbeddedStack,
) -> None:
    ada = await sign_up(http, "Ada Changing")
    elsewhere = (await sign_in(http, ada.email)).json()["access_token"]  # another device
    other = {"Authorization": f"Bearer {elsewhere}"}
    assert (await http.get("/api/v1/me", headers=other)).status_code == 200
    new = "a quite different passphrase"

    async def change(current: str, to: str) -> httpx.Response:
        body = {"current_password": current, "new_password": to}
        return await http.post("/api/v1/me/password", json=body, headers=ada.auth)

    for current, to, status, code in [
        ("not my password at all", new, 400, "wrong_password"),
        (PASSWORD, "short", 400, "weak_password"),
        (PASSWORD, PASSWORD, 400, "weak_password"),
        (PASSWORD, ada.email, 400, "weak_password"),
    ]:
        r = await change(current, to)
        assert (r.status_code, r.json()["code"]) == (status, code), r.text
    assert (await sign_in(http, ada.email, PASSWORD)).status_code == 200  # unchanged

    r = await change(PASSWORD, new)
    assert r.status_code == 200 and r.json()["other_sessions_ended"] == 2, r.text
    assert (await http.get("/api/v1/me", headers=other)).status_code == 401  # signed out
    assert (await http.get("/api/v1/me", headers=ada.auth)).status_code == 200  # stays
    refused = await sign_in(http, ada.email, PASSWORD)
    assert (refused.status_code, refused.json()["code"]) == (400, "invalid_grant")
    assert (await sign_in(http, ada.email, new)).status_code == 200

    # Wrong current passwords count towards the account's lockout, as failed sign-ins do.
    limit = Settings.from_env(stack.env()).login_max_failures_per_account
    for _ in range(limit):  # the sign-in that worked above started the count again
        assert (await change("guess " * 3, "another passphrase here")).status_code == 400
    locked = await change(new, "another passphrase here")
    assert locked.status_code == 429 and locked.json()["code"] == "too_many_attempts", locked.text

    auditor = await staff(http, stack, "auditor", "Aud Password")
    rows = [
        r
        for r in await audit_rows(http, auditor, limit=500)
        if r["action"] == "change_password" and r["target_id"] == ada.user_id
    ]
    outcomes = sorted((r["outcome"], r["reason_code"]) for r in rows)
    assert outcomes.count(("accepted", None)) == 1, outcomes
    assert outcomes.count(("rejected", "wrong_password")) == 1 + limit, outcomes
    assert ("rejected", "locked_out") in outcomes, outcomes
