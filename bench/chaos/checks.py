"""After settling: what must be true of the event store and the read models, given what
the clients were told. Each check gives a verdict a person can act on."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx

from bench.chaos.ledger import ACCEPTED, PENDING, REFUSED, Command, Ledger, Session
from bench.chaos.screens import Screen
from infra.local import health

BALANCE_EVENTS = ("MoneyDeposited", "MoneyWithdrawn", "MoneyTransferredOut", "MoneyTransferredIn")
SIGN = {
    "MoneyDeposited": 1,
    "MoneyTransferredIn": 1,
    "MoneyWithdrawn": -1,
    "MoneyTransferredOut": -1,
}
# Which part of the system a failed check points at.
WRITE, READ, EDGE = "write side", "read side", "HTTP edge"


@dataclass
class Check:
    name: str
    area: str
    ok: bool
    detail: str
    examples: list[str] = field(default_factory=list)


def _effects(cmd: Command) -> dict[str, int]:
    """account -> signed amount of an accepted command."""
    if cmd.kind == "deposit":
        return {cmd.accounts[0]: cmd.amount}
    if cmd.kind == "withdrawal":
        return {cmd.accounts[0]: -cmd.amount}
    src, dst = cmd.accounts
    return {src: -cmd.amount, dst: cmd.amount}


def balances(ledger: Ledger) -> Counter[str]:
    """account -> what it holds, by what the clients were told was accepted."""
    held: Counter[str] = Counter()
    for cmd in ledger.by_outcome(ACCEPTED):
        held.update(_effects(cmd))
    return held


async def _events_by_key(conn: asyncpg.Connection) -> dict[str, Counter[str]]:
    """idempotency key -> account -> number of balance events carrying it."""
    rows = await conn.fetch(
        "SELECT metadata->>'idempotency_key' AS key, stream_id::text AS account, count(*) AS n"
        " FROM events WHERE stream_type = 'account' AND event_type = ANY($1::text[])"
        " AND metadata->>'idempotency_key' IS NOT NULL GROUP BY 1, 2",
        list(BALANCE_EVENTS),
    )
    out: dict[str, Counter[str]] = defaultdict(Counter)
    for r in rows:
        out[r["key"]][r["account"]] = r["n"]
    return out


async def write_side(conn: asyncpg.Connection, ledger: Ledger) -> list[Check]:
    by_key = await _events_by_key(conn)
    accepted = ledger.by_outcome(ACCEPTED)
    lost, doubled = [], []
    for cmd in accepted:
        seen = by_key.get(cmd.key, Counter())
        for account in cmd.accounts:
            if seen[account] == 0:
                lost.append(f"{cmd.kind} {cmd.key} on {account}")
            elif seen[account] > 1:
                doubled.append(f"{cmd.kind} {cmd.key} x{seen[account]} on {account}")
        for account in set(seen) - set(cmd.accounts):
            doubled.append(f"{cmd.kind} {cmd.key} also on {account}")
    refused_applied = [
        f"{c.kind} {c.key} ({c.status})" for c in ledger.by_outcome(REFUSED) if c.key in by_key
    ]
    expected = balances(ledger)
    rows = await conn.fetch(
        "SELECT stream_id::text AS account, event_type, sum((payload->>'amount')::bigint) AS s"
        " FROM events WHERE stream_type = 'account' AND event_type = ANY($1::text[])"
        " GROUP BY 1, 2",
        list(BALANCE_EVENTS),
    )
    folded: Counter[str] = Counter()
    for r in rows:
        folded[r["account"]] += SIGN[r["event_type"]] * int(r["s"])
    ours = set(expected)
    diverged = [
        f"{a}: clients were told {expected[a]}, the event store says {folded[a]}"
        for a in sorted(ours)
        if expected[a] != folded[a]
    ]
    total_told, total_stored = sum(expected.values()), sum(folded[a] for a in ours)
    unresolved = ledger.by_outcome(PENDING)
    return [
        Check("0 lost", WRITE, not lost, f"{len(lost)} accepted postings missing", lost[:5]),
        Check("0 doubled", WRITE, not doubled, f"{len(doubled)} postings doubled", doubled[:5]),
        Check(
            "refused keys nowhere",
            WRITE,
            not refused_applied,
            f"{len(refused_applied)} refused commands left events",
            refused_applied[:5],
        ),
        Check(
            "money conserved",
            WRITE,
            not diverged and total_told == total_stored,
            f"clients' total {total_told}, event store {total_stored}; "
            f"{len(diverged)} accounts differ",
            diverged[:5],
        ),
        Check(
            "0 unresolved",
            WRITE,
            not unresolved,
            f"{len(unresolved)} commands never got a definite answer",
            [f"{c.kind} {c.key} after {c.attempts} tries" for c in unresolved[:5]],
        ),
    ]


async def read_side(conn: asyncpg.Connection, ledger: Ledger) -> list[Check]:
    """Every accepted posting exactly once in the history of each account it touched."""
    rows = await conn.fetch(
        "SELECT transaction_id::text AS tx, account_id::text AS account, count(*) AS n"
        " FROM transaction_view GROUP BY 1, 2"
    )
    history: dict[str, Counter[str]] = defaultdict(Counter)
    for r in rows:
        history[r["tx"]][r["account"]] = r["n"]
    missing, doubled = [], []
    for cmd in ledger.by_outcome(ACCEPTED):
        tx = cmd.transaction_id
        seen = history.get(tx or "", Counter())
        for account in cmd.accounts:
            if seen[account] == 0:
                missing.append(f"{cmd.kind} {tx} in {account}'s history")
            elif seen[account] > 1:
                doubled.append(f"{cmd.kind} {tx} x{seen[account]} in {account}'s history")
    return [
        Check(
            "accepted once in every history",
            READ,
            not missing and not doubled,
            f"{len(missing)} missing, {len(doubled)} doubled in transaction_view",
            (missing + doubled)[:5],
        )
    ]


# What the load must put in the customers' inboxes, written out from the bank's promise
# (server/notifications/README.md) rather than imported from its rules, so that a change
# of the rules or of the consumer fails here: money received from another customer's
# account, a payment refused, a new sign-in; nothing else (the load's withdrawals are
# all below the large-withdrawal threshold, and own-account moves do not notify).
REFUSED_PAYMENTS = ("withdraw_money", "transfer_money")
# The notification consumer reports its lag as of its last fetch (every 0.5 s when idle),
# so "caught up" at settling can be a fetch early: the inbox gets this long to show the
# last facts before one is counted missing.
INBOX_CATCH_UP_SECONDS = 10.0
# A screen shows the last push it got; at settling the last pushes may still be on their
# way (the read side caught up, then Redis, then the socket), or a socket reconnecting.
SCREEN_CATCH_UP_SECONDS = 15.0


@dataclass(frozen=True)
class _Due:
    kind: str
    user_id: str
    fact: str  # for a failed check's examples


async def _due_notifications(conn: asyncpg.Connection, ledger: Ledger) -> dict[str, _Due]:
    """source_key -> the notification the facts of this run call for."""
    owners = {
        r["account"]: r["owner"]
        for r in await conn.fetch(
            "SELECT account_id::text AS account, owner_id::text AS owner FROM account_view"
        )
    }
    from_others = [
        c.key
        for c in ledger.by_outcome(ACCEPTED)
        if c.kind == "transfer" and owners.get(c.accounts[0]) != owners.get(c.accounts[1])
    ]
    due: dict[str, _Due] = {}
    for r in await conn.fetch(
        "SELECT event_id::text AS id, stream_id::text AS account,"
        " metadata->>'idempotency_key' AS key FROM events"
        " WHERE event_type = 'MoneyTransferredIn' AND metadata->>'idempotency_key' = ANY($1)",
        from_others,
    ):
        due[f"event:{r['id']}"] = _Due(
            "money_received", owners[r["account"]], f"transfer {r['key']} into {r['account']}"
        )
    for r in await conn.fetch(
        "SELECT id, action, actor_id::text AS actor FROM audit_log"
        " WHERE (action = ANY($1) AND outcome = 'rejected')"
        " OR (action = 'sign_in' AND outcome = 'accepted')",
        list(REFUSED_PAYMENTS),
    ):
        kind = "new_sign_in" if r["action"] == "sign_in" else "payment_refused"
        due[f"audit:{r['id']}"] = _Due(kind, r["actor"], f"audit_log {r['id']} {r['action']}")
    return due


async def _inbox(conn: asyncpg.Connection) -> dict[str, asyncpg.Record]:
    rows = await conn.fetch(
        "SELECT source_key, kind, user_id::text AS user_id,"
        " NOT EXISTS (SELECT 1 FROM notification_pushes_due d WHERE d.notification_id = n.id)"
        " AS pushed FROM notifications n"
    )
    return {r["source_key"]: r for r in rows}


async def notifications(conn: asyncpg.Connection, ledger: Ledger) -> list[Check]:
    """Every fact that calls for a notification has exactly one, of its kind, to its
    customer, pushed; and the refusals and sign-ins it comes from are the ones the
    clients saw."""
    due = await _due_notifications(conn, ledger)
    deadline = time.monotonic() + INBOX_CATCH_UP_SECONDS
    while True:
        inbox = await _inbox(conn)
        missing = [f"{d.kind} for {d.fact}" for key, d in due.items() if key not in inbox]
        unpushed = [key for key, r in inbox.items() if not r["pushed"]]
        if (not missing and not unpushed) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    wrong = [
        f"{key}: {r['kind']} to {r['user_id']}, due {due[key].kind} to {due[key].user_id}"
        for key, r in inbox.items()
        if key in due and (r["kind"], r["user_id"]) != (due[key].kind, due[key].user_id)
    ]
    unexpected = [f"{key}: {r['kind']}" for key, r in inbox.items() if key not in due]
    kinds = Counter(d.kind for d in due.values())
    refused = [c for c in ledger.by_outcome(REFUSED) if c.kind in ("withdrawal", "transfer")]
    sessions: set[Session] = {c.session for c in ledger.commands}
    signed_in = sum(s.sign_ins for s in sessions)
    return [
        Check(
            "every notification once, to its customer",
            READ,
            not missing and not wrong and not unexpected,
            f"{len(due)} due ({', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))}):"
            f" {len(missing)} missing, {len(wrong)} wrong, {len(unexpected)} not due",
            (missing + wrong + unexpected)[:5],
        ),
        Check(
            "every notification pushed",
            READ,
            not unpushed,
            f"{len(inbox)} in the inbox, {len(unpushed)} never pushed",
            unpushed[:5],
        ),
        Check(
            "refusals and sign-ins audited as answered",
            WRITE,
            kinds["payment_refused"] == len(refused) and kinds["new_sign_in"] >= signed_in,
            f"{kinds['payment_refused']} refused payments audited, clients were refused"
            f" {len(refused)}; {kinds['new_sign_in']} sign-ins audited, clients signed in"
            f" {signed_in} times (and maybe more whose answer was lost)",
            [f"{c.kind} {c.key} ({c.status})" for c in refused[:5]]
            if kinds["payment_refused"] != len(refused)
            else [],
        ),
    ]


async def screens(shown: list[Screen], ledger: Ledger) -> list[Check]:
    """Every account on every customer's live screen shows what it holds, and no
    screen was sent a version it had been sent already, or an older one."""
    held = balances(ledger)
    deadline = time.monotonic() + SCREEN_CATCH_UP_SECONDS
    while True:
        wrong = [
            f"{account}: shows {screen.shown.get(account)} (version, balance), holds"
            f" {held[account]}"
            for screen in shown
            for account in screen.accounts
            if screen.shown.get(account, (0, None))[1] != held[account]
        ]
        if not wrong or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    accounts = sum(len(screen.accounts) for screen in shown)
    connects = sum(screen.connects for screen in shown)
    stale = [s for screen in shown for s in screen.stale]
    return [
        Check(
            "every screen shows what the account holds",
            READ,
            not wrong,
            f"{accounts} accounts on {len(shown)} live screens ({connects} connections in"
            f" all): {len(wrong)} wrong",
            wrong[:5],
        ),
        Check(
            "no screen sent a version twice or back",
            EDGE,
            not stale,
            f"{len(stale)} balance messages at or below a version the screen had",
            stale[:5],
        ),
    ]


def consistency(env: dict[str, str]) -> Check:
    """`python -m server.projections check` (= ./task check-consistency) exits 0."""
    done = subprocess.run(
        [sys.executable, "-m", "server.projections", "check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    out = (done.stdout + done.stderr).strip().splitlines()
    return Check(
        "check-consistency clean",
        READ,
        done.returncode == 0,
        f"exit {done.returncode}: " + (out[-1] if out else "(no output)"),
        out[-6:-1] if done.returncode else [],
    )


async def _replay(http: httpx.AsyncClient, cmd: Command) -> httpx.Response:
    r = await http.post(cmd.path, json=cmd.body, headers=cmd.headers())
    if r.status_code == 401:  # the session ended (Redis restarted): sign in, same key
        await cmd.session.sign_in(http, stale=cmd.session.token)
        r = await http.post(cmd.path, json=cmd.body, headers=cmd.headers())
    return r


async def replays(
    http: httpx.AsyncClient, conn: asyncpg.Connection, ledger: Ledger, sample: int = 40
) -> Check:
    """The same key and body again: the same answer, and nothing new in the store."""
    rnd = random.Random(7)
    done = [c for c in ledger.commands if c.outcome in (ACCEPTED, REFUSED)]
    chosen = rnd.sample(done, min(sample, len(done)))
    before = await conn.fetchval("SELECT count(*) FROM events")
    different = []
    budget = time.monotonic() + 60.0
    for n, cmd in enumerate(chosen):
        if time.monotonic() > budget:
            different.append(f"only {n} of {len(chosen)} replayed within 60 s")
            break
        try:
            r = await _replay(http, cmd)
        except httpx.HTTPError as exc:
            different.append(f"{cmd.kind} {cmd.key}: first {cmd.status}, replay {exc!r}")
            continue
        body: Any = None
        try:
            body = r.json()
        except ValueError:
            pass
        if r.status_code != cmd.status or body != cmd.response:
            different.append(f"{cmd.kind} {cmd.key}: first {cmd.status}, replay {r.status_code}")
    after = await conn.fetchval("SELECT count(*) FROM events")
    return Check(
        "replays identical",
        WRITE,
        not different and after == before,
        f"{len(chosen)} replayed, {len(different)} answered differently, "
        f"{after - before} new events",
        different[:5],
    )


def pipeline_health(ports: dict[str, int]) -> Check:
    """After settling, each pipeline process says it progresses (or has no endpoint)."""
    states = {name: health.probe(port, timeout=3.0) for name, port in ports.items()}
    bad = {n: h for n, h in states.items() if h.state not in (health.OK, health.NO_INFO)}
    return Check(
        "pipeline healthy after settling",
        READ,
        not bad,
        "; ".join(f"{n}: {h.summary()}" for n, h in states.items()),
        [f"{n}: {h.state} {h.error}" for n, h in bad.items()],
    )


def edge(ledger: Ledger) -> list[Check]:
    errors = ledger.server_errors()
    bare = ledger.unavailable_without_retry_after()
    by_status = Counter(a.status for a in errors)
    return [
        Check(
            "5xx only as 503",
            EDGE,
            not errors,
            f"{len(errors)} answers were 5xx other than 503 {dict(by_status)}",
            [f"{a.status} {a.path}: {a.detail[:160]}" for a in errors[:5]],
        ),
        Check(
            "503 carries Retry-After",
            EDGE,
            not bare,
            f"{len(bare)} 503 answers without Retry-After",
            [f"{a.path}: {a.detail[:160]}" for a in bare[:3]],
        ),
    ]
