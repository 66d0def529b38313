"""The HTTP scenarios: each is a ``Call`` against the real API (loopback, keep-alive)."""

from __future__ import annotations

import random
import uuid

import aiohttp
import msgspec

from bench.fixtures import Customer
from bench.loadgen import Call

_enc = msgspec.json.Encoder()

SCENARIOS = (
    "open_accounts",
    "deposits",
    "top_ups",
    "transfers_uniform",
    "transfers_hot",
    "get_balance",
    "batch_transfers",
)


class HttpScenarios:
    def __init__(
        self,
        api: str,
        http: aiohttp.ClientSession,
        customer: Customer,
        *,
        hot_share: float = 0.5,
        seed: int = 42,
    ) -> None:
        self.api = api
        self.http = http
        self.who = customer
        self.hot = customer.accounts[0]
        self.hot_share = hot_share
        self.rnd = random.Random(seed)

    def _headers(self, idem: bool = True) -> dict[str, str]:
        h = {**self.who.auth, "Content-Type": "application/json"}
        if idem:
            h["Idempotency-Key"] = str(uuid.uuid4())
        return h

    async def _post(self, url: str, body: bytes, expect: int, idem: bool = True) -> str | None:
        async with self.http.post(url, data=body, headers=self._headers(idem)) as r:
            await r.read()
            return None if r.status == expect else f"http_{r.status}"

    def _pair(self, hot: bool) -> tuple[str, str]:
        a, b = self.rnd.sample(self.who.accounts, 2)
        if hot:
            # The hot account is on one side of the transfer, either direction.
            other = a if a != self.hot else b
            return (self.hot, other) if self.rnd.random() < 0.5 else (other, self.hot)
        return a, b

    def call(self, scenario: str, *, batch_size: int = 1000) -> Call:
        if scenario == "open_accounts":
            return self._open_account_call()
        if scenario in ("deposits", "top_ups"):  # from Python: the customers' own deposits
            return self._deposit_call()
        if scenario in ("transfers_uniform", "transfers_hot"):
            return self._transfer_call(self.hot_share if scenario == "transfers_hot" else 0.0)
        if scenario == "get_balance":
            return self._balance_call()
        if scenario == "batch_transfers":
            return self._batch_call(batch_size)
        raise ValueError(f"unknown scenario {scenario}")

    def _open_account_call(self) -> Call:
        api = self.api
        body = _enc.encode({"currency": "EUR", "name": "bench"})
        return lambda i: self._post(f"{api}/api/v1/accounts", body, 201, idem=False)

    def _deposit_call(self) -> Call:
        api = self.api
        body = _enc.encode({"amount": 100, "description": "bench"})

        async def deposit(i: int) -> str | None:
            account = self.rnd.choice(self.who.accounts)
            return await self._post(f"{api}/api/v1/accounts/{account}/deposits", body, 201)

        return deposit

    def _transfer_call(self, hot_share: float) -> Call:
        """Transfers between random accounts; ``hot_share`` of them touch the hot account."""
        api = self.api

        async def transfer(i: int) -> str | None:
            src, dst = self._pair(self.rnd.random() < hot_share)
            body = _enc.encode({"from_account_id": src, "to_account_id": dst, "amount": 1})
            return await self._post(f"{api}/api/v1/transfers", body, 201)

        return transfer

    def _balance_call(self) -> Call:
        api = self.api
        headers = self.who.auth

        async def balance(i: int) -> str | None:
            account = self.rnd.choice(self.who.accounts)
            async with self.http.get(
                f"{api}/api/v1/accounts/{account}/balance", headers=headers
            ) as r:
                await r.read()
                return None if r.status == 200 else f"http_{r.status}"

        return balance

    def _batch_body(self, batch_size: int) -> bytes:
        items = []
        for _ in range(batch_size):
            src, dst = self._pair(False)
            items.append(
                {
                    "id": str(uuid.uuid4()),
                    "from_account_id": src,
                    "to_account_id": dst,
                    "amount": 1,
                }
            )
        return _enc.encode({"transfers": items})

    def _batch_call(self, batch_size: int) -> Call:
        """``batch_size`` uniform transfers per call; a rejected item makes the call fail."""
        api = self.api

        async def batch(i: int) -> str | None:
            body = self._batch_body(batch_size)
            async with self.http.post(
                f"{api}/api/v1/transfers/batch", data=body, headers=self._headers(idem=False)
            ) as r:
                raw = await r.read()
                if r.status != 200:
                    return f"http_{r.status}"
                if b'"rejected":0' not in raw.replace(b" ", b""):
                    return "items_rejected"
                return None

        return batch
