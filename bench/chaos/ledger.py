"""What the clients asked and what they were told: the record every check reads.

A client retries a command with the same Idempotency-Key and the same body until it
gets a definite answer: 2xx (accepted) or a 4xx that says the bank refused it. A
network error, a timeout, 429 and every 5xx are retried (honouring Retry-After, at
most 2 s). A command still without a definite answer at the end is "unresolved".
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

RETRYABLE_4XX = frozenset({401, 408, 429})
_BAD_5XX = frozenset(range(500, 600)) - {503}
ACCEPTED = "accepted"
REFUSED = "refused"
PENDING = "pending"


class Session:
    """A customer signed in; signs in again when the bank forgot the session (a Redis
    restart without persistence ends every session: a real app then signs in again)."""

    def __init__(self, email: str, password: str) -> None:
        self.email = email
        self.password = password
        self.token = ""
        self.sign_ins = 0
        self._lock = asyncio.Lock()

    async def sign_in(self, http: httpx.AsyncClient, stale: str | None = None) -> None:
        """A new token, unless another request already replaced ``stale``."""
        async with self._lock:
            if stale is not None and self.token != stale:
                return
            r = await http.post(
                "/api/v1/auth/token",
                data={"grant_type": "password", "username": self.email, "password": self.password},
                timeout=30.0,  # signing in is slow by design (argon2): wait for it
            )
            r.raise_for_status()
            self.token = str(r.json()["access_token"])
            self.sign_ins += 1

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Command:
    kind: str  # deposit | withdrawal | transfer
    path: str
    body: dict[str, Any]
    session: Session
    accounts: tuple[str, ...]  # deposit/withdrawal: (account,); transfer: (source, target)
    amount: int
    key: str = field(default_factory=lambda: str(uuid.uuid4()))
    outcome: str = PENDING
    status: int | None = None
    response: dict[str, Any] | None = None
    attempts: int = 0
    first_sent: float = 0.0  # time.time()
    answered: float | None = None

    @property
    def transaction_id(self) -> str | None:
        if self.response is None:
            return None
        return self.response.get("transaction_id") or self.response.get("transfer_id")

    def headers(self) -> dict[str, str]:
        return {**self.session.auth, "Idempotency-Key": self.key}


@dataclass
class Answer:
    """One HTTP answer (or failure to get one), for the outage accounting."""

    at: float
    status: int | None  # None: no HTTP answer (refused, reset, timeout)
    path: str
    detail: str = ""
    retry_after: bool = False


@dataclass
class Ledger:
    commands: list[Command] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)

    def statuses(self) -> Counter[str]:
        return Counter(str(a.status) if a.status else "no_answer" for a in self.answers)

    def by_outcome(self, outcome: str) -> list[Command]:
        return [c for c in self.commands if c.outcome == outcome]

    def server_errors(self) -> list[Answer]:
        """5xx answers other than 503: a dependency outage must be a 503."""
        return [
            a for a in self.answers if a.status is not None and a.status >= 500 and a.status != 503
        ]

    def unavailable_without_retry_after(self) -> list[Answer]:
        return [a for a in self.answers if a.status == 503 and not a.retry_after]


class RetryingClient:
    """Sends commands like a careful app: same key, same body, until a definite answer."""

    def __init__(self, http: httpx.AsyncClient, ledger: Ledger, *, give_up_at: list[float]) -> None:
        self.http = http
        self.ledger = ledger
        # A shared, movable deadline (time.monotonic()): the run extends it into settling.
        self.give_up_at = give_up_at

    async def send(self, cmd: Command) -> Command:
        self.ledger.commands.append(cmd)
        cmd.first_sent = time.time()
        delay = 0.1
        while cmd.outcome == PENDING and time.monotonic() < self.give_up_at[0]:
            wait = await self._attempt(cmd)
            if cmd.outcome != PENDING:
                break
            await asyncio.sleep(wait if wait is not None else delay)
            delay = min(delay * 2, 1.0)
        return cmd

    async def _attempt(self, cmd: Command) -> float | None:
        """One try; returns how long the server asked us to wait, if it did."""
        cmd.attempts += 1
        token = cmd.session.token
        try:
            r = await self.http.post(cmd.path, json=cmd.body, headers=cmd.headers())
        except httpx.HTTPError as exc:
            self.ledger.answers.append(Answer(time.time(), None, cmd.path, type(exc).__name__))
            return None
        retry_after = r.headers.get("retry-after")
        self.ledger.answers.append(
            Answer(
                time.time(),
                r.status_code,
                cmd.path,
                r.text[:300] if r.status_code >= 500 else "",
                retry_after is not None,
            )
        )
        if r.status_code == 401:  # the session is gone: sign in again, same key
            return await self._sign_in_again(cmd, token)
        if r.status_code < 300:
            cmd.outcome, cmd.status, cmd.response = ACCEPTED, r.status_code, r.json()
            cmd.answered = time.time()
        elif 400 <= r.status_code < 500 and r.status_code not in RETRYABLE_4XX:
            cmd.outcome, cmd.status, cmd.response = REFUSED, r.status_code, _json(r)
            cmd.answered = time.time()
        elif retry_after is not None:
            try:
                return min(max(float(retry_after), 0.05), 2.0)
            except ValueError:
                return None
        return None

    async def _sign_in_again(self, cmd: Command, stale: str) -> float | None:
        try:
            await cmd.session.sign_in(self.http, stale=stale)
        except httpx.HTTPStatusError as exc:
            r = exc.response
            self.ledger.answers.append(
                Answer(
                    time.time(),
                    r.status_code,
                    "/api/v1/auth/token",
                    r.text[:300],
                    "retry-after" in r.headers,
                )
            )
            return None
        except httpx.HTTPError as exc:
            self.ledger.answers.append(
                Answer(time.time(), None, "/api/v1/auth/token", type(exc).__name__)
            )
            return None
        return 0.0


def _json(r: httpx.Response) -> dict[str, Any] | None:
    try:
        body = r.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
