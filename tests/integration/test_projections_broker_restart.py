"""The embedded broker forgets every topic when it restarts: the projection
worker must notice that its partitions started again at offset 0, lose nothing
that was in flight, and double nothing."""

from __future__ import annotations

import uuid

import asyncpg
import httpx

from infra.local.procs import ManagedProcess
from infra.local.stack import EmbeddedStack
from tests.integration.test_projections import (
    funded_customer,
    run_projections_command,
    wait_all_projected,
    wait_projected,
)


async def test_projection_survives_a_broker_that_forgot_everything(
    http: httpx.AsyncClient,
    cdc: ManagedProcess,
    projections: ManagedProcess,
    db: asyncpg.Pool,
    stack: EmbeddedStack,
) -> None:
    kafka = stack.processes.get("kafka")
    if kafka is None:
        import pytest

        pytest.skip("Kafka is external here: cannot restart it")
    ada, account = await funded_customer(http)
    for amount in (1_00, 2_00):
        assert (await ada.deposit(account, amount)).status_code == 201
    await wait_projected(db, account, 3)
    before = await db.fetch(
        'SELECT topic, partition, "offset" FROM projection_checkpoints ORDER BY 1, 2'
    )
    assert before, "the worker keeps its position in PostgreSQL"

    # Records that reach Kafka while the worker is down are lost with the broker.
    projections.kill()
    for amount in (3_00, 4_00):
        assert (await ada.deposit(account, amount)).status_code == 201
    kafka.kill()
    kafka.restart()
    cdc.kill()
    cdc.restart()
    projections.restart()
    await wait_projected(db, account, 5)

    # New records land on fresh partitions, at offsets below the checkpoints.
    for amount in (5_00, 6_00, 7_00):
        r = await ada.deposit(account, amount)
        assert r.status_code == 201, r.text
    await wait_projected(db, account, r.json()["version"], timeout=60)
    rows = await db.fetch(
        "SELECT version, amount FROM transaction_view WHERE account_id = $1 ORDER BY version",
        uuid.UUID(account),
    )
    assert [tuple(x) for x in rows] == [(v, (v - 1) * 1_00) for v in range(2, 9)]
    assert (
        await db.fetchval(
            "SELECT balance FROM account_view WHERE account_id = $1", uuid.UUID(account)
        )
        == 28_00
    )

    # And the worker follows the new topics live (not only through catch-up).
    r = await ada.deposit(account, 8_00)
    await wait_projected(db, account, r.json()["version"], timeout=30)

    # Once more with the worker running through the broker restart: its
    # position is past the end of the new partitions.
    kafka.kill()
    kafka.restart()
    cdc.kill()
    cdc.restart()
    for amount in (9_00, 10_00):
        r = await ada.deposit(account, amount)
        assert r.status_code == 201, r.text
    await wait_projected(db, account, r.json()["version"], timeout=60)
    assert projections.alive
    await wait_all_projected(db)
    assert await db.fetchval(
        "SELECT count(*) = count(DISTINCT version) FROM transaction_view WHERE account_id = $1",
        uuid.UUID(account),
    )
    check = run_projections_command(stack, "check")
    assert check.returncode == 0, check.stdout + check.stderr
