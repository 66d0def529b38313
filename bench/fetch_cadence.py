"""``python -m bench.fetch_cadence``: how often an aiokafka consumer gets records from
the embedded broker under a steady stream, for each ``fetch_max_wait_ms``.

The embedded broker (Tansu 0.6) lists every batch stored in a partition for each fetch
that finds records there (docs/adr/0311), so this cadence, times the batches stored,
is what a consumer costs it (docs/adr/0317). A standalone broker on a free loopback
port, one producer sending a 100-byte record every 10 ms, one consumer per wait for
four seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from infra.local.ports import HOST, free_port
from infra.local.services import tansu_argv

TOPIC = "cadence"
SEND_EVERY_SECONDS = 0.01
SECONDS_PER_WAIT = 4.0


async def _cadence(bootstrap: str, wait_ms: int) -> tuple[float, float]:
    """Fetches with records a second, and their median gap in ms."""
    consumer = AIOKafkaConsumer(
        TOPIC, bootstrap_servers=bootstrap, fetch_max_wait_ms=wait_ms, auto_offset_reset="latest"
    )
    await consumer.start()
    try:
        await asyncio.sleep(0.5)
        times = []
        end = time.monotonic() + SECONDS_PER_WAIT
        while time.monotonic() < end:
            got = await consumer.getmany(timeout_ms=2000)
            if any(got.values()):
                times.append(time.monotonic())
    finally:
        await consumer.stop()
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    return len(times) / SECONDS_PER_WAIT, 1000 * statistics.median(gaps) if gaps else 0.0


async def measure(waits: list[int]) -> None:
    port = free_port()
    broker = subprocess.Popen(
        tansu_argv(port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    bootstrap = f"{HOST}:{port}"
    try:
        await asyncio.sleep(1.5)
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(TOPIC, 1, 1)])
        finally:
            await admin.close()
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        streaming = True

        async def stream() -> None:
            while streaming:
                await producer.send_and_wait(TOPIC, b"x" * 100)
                await asyncio.sleep(SEND_EVERY_SECONDS)

        sender = asyncio.create_task(stream())
        try:
            for wait_ms in waits:
                per_second, gap_ms = await _cadence(bootstrap, wait_ms)
                print(
                    f"fetch_max_wait_ms={wait_ms}: {per_second:.1f} fetches with records/s, "
                    f"median gap {gap_ms:.0f} ms",
                    flush=True,
                )
        finally:
            streaming = False
            await sender
            await producer.stop()
    finally:
        broker.terminate()
        broker.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waits", type=int, nargs="+", default=[25, 100, 250, 500, 1000])
    asyncio.run(measure(parser.parse_args().waits))


if __name__ == "__main__":
    main()
