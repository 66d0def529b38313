"""How far behind the read side is, measured from outside: small deposits on probe
accounts a few times a second, and the moment account_view shows each one.

The lag of a probe is (seen in account_view) - (its 201 reached the client). After a
fault, the read side is "back" from the first probe after which every probe in the
window was seen within a second.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass

import asyncpg

from bench.chaos.ledger import ACCEPTED, Command, RetryingClient, Session

LAG_TARGET = 1.0


@dataclass
class Probe:
    cmd: Command
    seen: float | None = None  # time.time() when account_view reached its version

    @property
    def version(self) -> int | None:
        if self.cmd.outcome != ACCEPTED or self.cmd.response is None:
            return None
        return int(self.cmd.response["version"])

    @property
    def lag(self) -> float:
        """Seconds from its 201 to account_view showing it; not seen yet: at least the
        time since its 201 (a probe answered a moment ago is not late yet)."""
        if self.cmd.answered is None:
            return math.inf
        seen = self.seen if self.seen is not None else time.time()
        return max(0.0, seen - self.cmd.answered)


class ReadLagProbe:
    def __init__(
        self, client: RetryingClient, who: Session, accounts: list[str], db_url: str
    ) -> None:
        self.client = client
        self.who = who
        self.accounts = accounts
        self.db_url = db_url
        self.probes: list[Probe] = []
        self._tasks: set[asyncio.Task[Command]] = set()

    async def send_forever(self, interval: float = 0.25, max_inflight: int = 40) -> None:
        i = 0
        while True:
            if len(self._tasks) < max_inflight:  # during an outage, do not pile up
                account = self.accounts[i % len(self.accounts)]
                cmd = Command(
                    kind="deposit",
                    path=f"/api/v1/accounts/{account}/deposits",
                    body={"amount": 1, "description": "probe"},
                    session=self.who,
                    accounts=(account,),
                    amount=1,
                )
                self.probes.append(Probe(cmd))
                task = asyncio.create_task(self.client.send(cmd))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                i += 1
            await asyncio.sleep(interval)

    async def watch_forever(self, interval: float = 0.1) -> None:
        """Poll account_view for the probe accounts; reconnect through outages."""
        conn: asyncpg.Connection | None = None
        while True:
            try:
                if conn is None or conn.is_closed():
                    conn = await asyncpg.connect(self.db_url, timeout=2)
                rows = await conn.fetch(
                    "SELECT account_id::text AS id, version FROM account_view"
                    " WHERE account_id = ANY($1::uuid[])",
                    self.accounts,
                    timeout=2,
                )
                self._mark({r["id"]: r["version"] for r in rows}, time.time())
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
                if conn is not None:
                    conn.terminate()
                conn = None
            await asyncio.sleep(interval)

    def _mark(self, versions: dict[str, int], now: float) -> None:
        for p in self.probes:
            v = p.version
            if p.seen is None and v is not None and versions.get(p.cmd.accounts[0], 0) >= v:
                p.seen = now

    # -- reading the record --------------------------------------------------
    def window(self, start: float, end: float) -> list[Probe]:
        """Accepted probes first sent in [start, end), in the order they were answered."""
        got = [p for p in self.probes if start <= p.cmd.first_sent < end and p.version is not None]
        return sorted(got, key=lambda p: p.cmd.answered or 0.0)

    def back_at(self, start: float, end: float) -> float | None:
        """When the read side was back under the lag target for good, within the window."""
        probes = self.window(start, end)
        back: float | None = None
        for p in probes:
            if p.lag >= LAG_TARGET:
                back = None
            elif back is None and p.seen is not None:
                back = p.seen
        return back

    def healthy_since(self, since: float, needed: int = 3) -> bool:
        """The last ``needed`` probes sent since ``since`` were all seen within the target."""
        probes = self.window(since, math.inf)[-needed:]
        return len(probes) == needed and all(
            p.seen is not None and p.lag < LAG_TARGET for p in probes
        )

    def max_lag(self, start: float, end: float) -> float:
        return max((p.lag for p in self.window(start, end)), default=0.0)
