"""Under real traffic (sign-ups, a failed sign-in, deposits, a refused withdrawal, a
transfer, an unknown route), every log line each process writes is an ECS object
that fits the field types of our Elasticsearch index template
(infra/helm/bank/charts/elk/files/index-template.json). Elasticsearch itself cannot
run on this machine: the template's types are checked here instead of by indexing."""

from __future__ import annotations

import uuid

import asyncpg
import httpx

from infra.local.procs import ManagedProcess
from infra.local.stack import EmbeddedStack
from tests.integration.test_observability import log_lines, wait_for
from tests.integration.test_projections import funded_customer, wait_projected
from tests.support.customers import sign_in
from tests.support.ecs import mapping, problems


async def test_every_line_of_every_process_fits_the_index_template(
    http: httpx.AsyncClient,
    cdc: ManagedProcess,
    projections: ManagedProcess,
    db: asyncpg.Pool,
    stack: EmbeddedStack,
) -> None:
    ada, account = await funded_customer(http, "Ada Ecs")
    bob, savings = await funded_customer(http, "Bob Ecs")
    assert (await ada.deposit(account, 50_00)).status_code == 201
    assert (await ada.withdraw(account, 1_000_000_00)).status_code in (409, 422)
    r = await ada.transfer(account, savings, 10_00)
    assert r.status_code == 201, r.text
    assert (await sign_in(http, "nobody@example.com", "Wrong-password-1")).status_code in (400, 401)
    assert (await http.get("/api/v1/no-such-route")).status_code == 404
    await wait_projected(db, account, 3)  # opened, deposit, transfer (the refusal appends nothing)

    def api_access_line_for_the_transfer() -> bool:
        return any(
            ln.get("url", {}).get("path", "").endswith("/transfers")
            for ln in log_lines(stack, "api")
        )

    async def seen() -> bool | None:
        return api_access_line_for_the_transfer() or None

    assert await wait_for(seen, timeout=10)
    fields = mapping()
    checked = 0
    for name in ("api", "cdc", "projections", "notifications"):
        if not (stack.logs_dir / f"{name}.log").exists():
            continue
        for line in log_lines(stack, name):
            assert problems(line, fields) == [], (name, line)
            checked += 1
    assert checked >= 10, checked
    services = {ln["service"]["name"] for ln in log_lines(stack, "api")}
    assert services == {"api"}
    assert uuid.UUID(bob.user_id)
