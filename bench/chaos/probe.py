"""How far behind the read side is, measured from outside: small deposits on probe
accounts a few times a second, and the moment account_view shows each one.

The lag of a probe is (seen in account_view) - (its 201 reached the client). After a
fault, the read side is "back" from the first probe after which every probe in the
window was seen within a second.

A probe belongs to the window in which it was *accepted* (its 201), not the one in which
it was first sent: a probe sent during one outage and retried until after the next fault
began measures the next fault's read side (counting it against the first one made a
Redis kill look as if its read side never came back, and a PostgreSQL kill as slow as
the frozen connector that followed it). A probe accepted before the fault but not yet
seen when it struck counts for the fault too.

This is the lag of the read side behind the writes the bank accepted. While the write
side refuses (the API down; 503 while Redis or PostgreSQL is down) nothing new is
accepted, so nothing can be behind: a fault after which no probe was ever 1 s late has
its read side back at once (0 s), and how long writes were refused is the separate
"writes back" figure (docs/adr/0705-read-lag-is-measured-on-accepted-writes.md).
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
        self.watch_errors: dict[str, int] = {}  # what the watcher rode out, by type
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
        """Poll account_view for the probe accounts; reconnect through outages.

        Any error is an outage to ride out, never the end of the watch: a PostgreSQL kill
        can surface as asyncpg's InternalClientError ("cannot switch to state ..."), which
        is neither a PostgresError nor an InterfaceError; it once ended this task, and
        every later probe was reported as never seen (a read side that "never" came back).
        """
        conn: asyncpg.Connection | None = None
        while True:
            try:
                async with asyncio.timeout(5):  # asyncpg's own timeouts, and a bound on all
                    if conn is None or conn.is_closed():
                        conn = await asyncpg.connect(self.db_url, timeout=2)
                    rows = await conn.fetch(
                        "SELECT account_id::text AS id, version FROM account_view"
                        " WHERE account_id = ANY($1::uuid[])",
                        self.accounts,
                        timeout=2,
                    )
                self._mark({r["id"]: r["version"] for r in rows}, time.time())
            except Exception as exc:  # noqa: BLE001 - see the docstring
                self.watch_errors[type(exc).__name__] = (
                    self.watch_errors.get(type(exc).__name__, 0) + 1
                )
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
        """Probes accepted (answered 2xx) in [start, end), and those accepted before
        ``start`` but not seen by then, in the order they were answered."""
        got = [
            p
            for p in self.probes
            if p.version is not None
            and p.cmd.answered is not None
            and p.cmd.answered < end
            and (p.cmd.answered >= start or p.seen is None or p.seen > start)
        ]
        return sorted(got, key=lambda p: p.cmd.answered or 0.0)

    def timeline(self, since: float) -> list[dict[str, float | int | None]]:
        """Every probe as seconds since ``since``: first sent, accepted, seen, tries."""

        def rel(t: float | None) -> float | None:
            return None if t is None else round(t - since, 3)

        return [
            {
                "sent": rel(p.cmd.first_sent),
                "accepted": rel(p.cmd.answered) if p.version is not None else None,
                "seen": rel(p.seen),
                "attempts": p.cmd.attempts,
            }
            for p in self.probes
        ]

    def back_at(self, start: float, end: float) -> float | None:
        """When the read side was back under the lag target for good, within the window:
        the moment the first probe after the last late one was seen; ``start`` when no
        probe was late; None when the last one was late, or none was accepted after
        ``start`` (nothing shows that the read side works again)."""
        probes = self.window(start, end)
        if not any((p.cmd.answered or 0.0) >= start for p in probes):
            return None
        back: float | None = start
        for p in probes:
            if p.lag >= LAG_TARGET:
                back = None
            elif back is None and p.seen is not None:
                back = p.seen
        return back

    def healthy_since(self, since: float, needed: int = 3) -> bool:
        """The last ``needed`` probes accepted since ``since`` were all seen within the target."""
        probes = self.window(since, math.inf)[-needed:]
        return len(probes) == needed and all(
            p.seen is not None and p.lag < LAG_TARGET for p in probes
        )

    def max_lag(self, start: float, end: float) -> float:
        return max((p.lag for p in self.window(start, end)), default=0.0)
