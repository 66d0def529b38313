"""``python -m bench.broker_growth``: what one consumer costs the embedded broker as
the batches stored in its partition grow, and what deleting the topic gives back.

The embedded broker (Tansu 0.6, memory engine) lists every batch stored in a
partition for each fetch that finds records there (docs/adr/0311) and never deletes
one; the CDC connector recycles the topics to bound that (docs/adr/0320). A
standalone broker on a free loopback port; a consumer follows one partition (fetch
wait 25 ms, the projection worker's) that gets one batch every 10 ms (the
connector's send floor, ADR 0311) for five seconds at each stored count. Prints
the broker's CPU as a share of one core and per batch followed, and its RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import subprocess
import time

import psutil
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from infra.local.ports import HOST, free_port
from infra.local.services import tansu_argv

TOPIC = "growth"
SEND_EVERY_SECONDS = 0.01
SECONDS_PER_STEP = 5.0
RECORD = b"x" * 600


def _cpu(broker: psutil.Process) -> float:
    t = broker.cpu_times()
    return t.user + t.system


async def _follow(consumer: AIOKafkaConsumer) -> None:
    while True:
        await consumer.getmany(timeout_ms=100)


async def measure(steps: list[int]) -> None:
    port = free_port()
    proc = subprocess.Popen(tansu_argv(port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    broker = psutil.Process(proc.pid)
    bootstrap = f"{HOST}:{port}"
    try:
        await asyncio.sleep(1.5)
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        await admin.create_topics([NewTopic(TOPIC, 1, 1)])
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
        consumer = AIOKafkaConsumer(
            TOPIC, bootstrap_servers=bootstrap, fetch_max_wait_ms=25, auto_offset_reset="latest"
        )
        await producer.start()
        await consumer.start()
        stored = 0
        try:
            for step in (*steps, 0):
                if step == 0 and stored:  # last: what deleting the topic gives back
                    await admin.delete_topics([TOPIC])
                    await admin.create_topics([NewTopic(TOPIC, 1, 1)])
                    stored, label = 0, "after deleting and recreating the topic"
                else:
                    while stored < step:  # one request, one stored batch
                        await producer.send_and_wait(TOPIC, RECORD)
                        stored += 1
                    label = f"{stored:>6,} batches stored"
                follower = asyncio.create_task(_follow(consumer))
                await asyncio.sleep(0.5)
                cpu, started, sent = _cpu(broker), time.monotonic(), 0
                while time.monotonic() - started < SECONDS_PER_STEP:
                    await producer.send_and_wait(TOPIC, RECORD)
                    sent += 1
                    await asyncio.sleep(SEND_EVERY_SECONDS)
                used, took = _cpu(broker) - cpu, time.monotonic() - started
                stored += sent
                follower.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await follower
                print(
                    f"{label}: broker {100 * used / took:5.1f} % of a core,"
                    f" {1e6 * used / sent:7,.0f} µs per batch followed,"
                    f" RSS {broker.memory_info().rss / 1e6:4.0f} MB",
                    flush=True,
                )
        finally:
            await consumer.stop()
            await producer.stop()
            await admin.close()
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, nargs="+", default=[1, 2_500, 5_000, 10_000, 20_000])
    asyncio.run(measure(sorted(p.parse_args().steps)))


if __name__ == "__main__":
    main()
