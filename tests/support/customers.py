"""A customer as the tests see one: signs up, signs in, and calls the real API over HTTP."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

PASSWORD = "correct horse battery staple"


@dataclass
class Customer:
    http: httpx.AsyncClient
    email: str
    user_id: str
    token: str
    accounts: list[str] = field(default_factory=list)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def open_account(self, currency: str = "EUR", name: str = "Everyday") -> dict[str, Any]:
        r = await self.http.post(
            "/api/v1/accounts", json={"currency": currency, "name": name}, headers=self.auth
        )
        assert r.status_code == 201, r.text
        body: dict[str, Any] = r.json()
        self.accounts.append(body["id"])
        return body

    async def deposit(
        self, account_id: str, amount: int, key: str | None = None, description: str = ""
    ) -> httpx.Response:
        return await self.http.post(
            f"/api/v1/accounts/{account_id}/deposits",
            json={"amount": amount, "description": description},
            headers={**self.auth, "Idempotency-Key": key or str(uuid.uuid4())},
        )

    async def withdraw(
        self, account_id: str, amount: int, key: str | None = None
    ) -> httpx.Response:
        return await self.http.post(
            f"/api/v1/accounts/{account_id}/withdrawals",
            json={"amount": amount},
            headers={**self.auth, "Idempotency-Key": key or str(uuid.uuid4())},
        )

    async def transfer(
        self, source: str, target: str, amount: int, key: str | None = None, description: str = ""
    ) -> httpx.Response:
        return await self.http.post(
            "/api/v1/transfers",
            json={
                "from_account_id": source,
                "to_account_id": target,
                "amount": amount,
                "description": description,
            },
            headers={**self.auth, "Idempotency-Key": key or str(uuid.uuid4())},
        )

    async def account(self, account_id: str) -> httpx.Response:
        return await self.http.get(f"/api/v1/accounts/{account_id}", headers=self.auth)

    async def balance(self, account_id: str) -> int:
        r = await self.account(account_id)
        assert r.status_code == 200, r.text
        return int(r.json()["balance"]["amount"])


async def sign_in(http: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    return await http.post(
        "/api/v1/auth/token",
        data={"grant_type": "password", "username": email, "password": password},
    )


async def sign_up(http: httpx.AsyncClient, name: str = "Ada Lovelace") -> Customer:
    email = f"{name.split()[0].lower()}.{uuid.uuid4().hex[:10]}@example.com"
    r = await http.post(
        "/api/v1/auth/register", json={"email": email, "password": PASSWORD, "full_name": name}
    )
    assert r.status_code == 201, r.text
    user_id = r.json()["user_id"]
    t = await sign_in(http, email)
    assert t.status_code == 200, t.text
    return Customer(http=http, email=email, user_id=user_id, token=t.json()["access_token"])
