"""The money rate limit shared by several API processes through Redis, taken in
leases (docs/adr/0301-rate-limit-leases.md): together they never admit more than
the bucket holds, a lease costs one round trip for several requests, and
without Redis each process still limits on its own."""

from __future__ import annotations

import asyncio
import uuid

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from infra.local.ports import free_port
from server.adapters.rate_limits import LeasedTokenBucket


async def test_two_processes_together_admit_no_more_than_the_burst(
    redis_client: redis.Redis,
) -> None:
    # A lease is a twentieth of the burst and at most a second of the rate.
    assert LeasedTokenBucket(redis_client, "lease-test", rate=0.5, burst=200).lease == 1
    one = LeasedTokenBucket(redis_client, "lease-test", rate=50.0, burst=200)
    two = LeasedTokenBucket(redis_client, "lease-test", rate=50.0, burst=200)
    assert one.lease == 10
    subject = uuid.uuid4().hex
    admitted = 0
    for i in range(400):
        admitted += (await (one if i % 2 else two).take(subject)) == 0
    # The burst, plus what 50/s refilled while the loop ran, minus unspent leases.
    assert 200 - 2 * (one.lease - 1) <= admitted <= 200 + 50 * 2, admitted


async def test_concurrent_requests_of_one_user_share_a_lease(redis_client: redis.Redis) -> None:
    """150 requests at once, 100 tokens in leases of 5: 100 pass (and what 5/s refills
    meanwhile). Each request taking a lease of its own drew the bucket dry in 20 leases
    and kept only the last one, refusing most requests with the tokens unspent."""
    bucket = LeasedTokenBucket(redis_client, "lease-herd", rate=5.0, burst=100)
    assert bucket.lease == 5
    subject = uuid.uuid4().hex
    waits = await asyncio.gather(*(bucket.take(subject) for _ in range(150)))
    assert 100 <= sum(w == 0 for w in waits) <= 105, waits
    # the refused are told to wait for one token of the shared bucket: at most 1/rate
    assert all(0 < w <= 1 / 5.0 for w in waits if w != 0), waits
    # With limits far above the load (the bench's), nothing is refused at all.
    roomy = LeasedTokenBucket(redis_client, "lease-roomy", rate=1e6, burst=1_000_000)
    waits = await asyncio.gather(*(roomy.take(subject) for _ in range(200)))
    assert waits == [0.0] * 200


async def test_a_lease_saves_redis_round_trips(redis_client: redis.Redis) -> None:
    bucket = LeasedTokenBucket(redis_client, "lease-rtt", rate=100.0, burst=500)
    subject = uuid.uuid4().hex
    key = f"bank:bucket:lease-rtt:{subject}"
    before = await redis_client.info("commandstats")
    for _ in range(bucket.lease * 3):
        assert await bucket.take(subject) == 0
    after = await redis_client.info("commandstats")

    def evals(stats: dict[str, dict[str, int]]) -> int:
        return sum(v["calls"] for k, v in stats.items() if k.startswith("cmdstat_eval"))

    assert evals(after) - evals(before) <= 4  # 3 leases (+1 script load), not 75 takes
    assert await redis_client.exists(key)


async def test_without_redis_each_process_limits_on_its_own() -> None:
    dead = redis.Redis(host="127.0.0.1", port=free_port(), retry=Retry(NoBackoff(), 0))
    try:
        bucket = LeasedTokenBucket(dead, "lease-down", rate=0.01, burst=3)
        waits = [await bucket.take("ada") for _ in range(5)]
    finally:
        await dead.aclose()
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert all(w > 0 for w in waits[3:])
