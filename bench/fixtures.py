"""The customers and funded accounts every HTTP scenario works on, made over the real API."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field

import aiohttp

PASSWORD = "bench horse battery staple"
FUNDING = 100_000_000  # minor units per deposit (under the per-transaction limit)


@dataclass
class Customer:
    user_id: str
    token: str
    accounts: list[str] = field(default_factory=list)
    email: str = ""

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def _json(resp: aiohttp.ClientResponse, expect: int) -> dict:  # type: ignore[type-arg]
    body = await resp.json(content_type=None)
    if resp.status != expect:
        raise RuntimeError(f"{resp.method} {resp.url} -> {resp.status}: {body}")
    return body  # type: ignore[no-any-return]


async def sign_up(http: aiohttp.ClientSession, api: str, name: str) -> Customer:
    email = f"{name}.{uuid.uuid4().hex[:10]}@bench.example.com"
    async with http.post(
        f"{api}/api/v1/auth/register",
        json={"email": email, "password": PASSWORD, "full_name": name},
    ) as r:
        user_id = (await _json(r, 201))["user_id"]
    async with http.post(
        f"{api}/api/v1/auth/token",
        data={"grant_type": "password", "username": email, "password": PASSWORD},
    ) as r:
        token = (await _json(r, 200))["access_token"]
    return Customer(user_id=user_id, token=token, email=email)


async def open_accounts(
    http: aiohttp.ClientSession,
    api: str,
    who: Customer,
    n: int,
    *,
    fund_times: int = 1,
    parallel: int = 16,
) -> None:
    sem = asyncio.Semaphore(parallel)

    async def one(i: int) -> None:
        async with sem:
            async with http.post(
                f"{api}/api/v1/accounts",
                headers=who.auth,
                json={"currency": "EUR", "name": f"bench {i}"},
            ) as r:
                account = (await _json(r, 201))["id"]
            for _ in range(fund_times):
                async with http.post(
                    f"{api}/api/v1/accounts/{account}/deposits",
                    headers={**who.auth, "Idempotency-Key": str(uuid.uuid4())},
                    json={"amount": FUNDING},
                ) as r:
                    await _json(r, 201)
            who.accounts.append(account)

    await asyncio.gather(*(one(i) for i in range(n)))
