"""python -m server.notifications: the notification consumer (see consumer.py)."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

import uvloop

from runtime.settings import Settings


async def _run(settings: Settings) -> int:
    from server.notifications.consumer import run_consumer
    from server.notifications.push import provider_from_settings

    provider = provider_from_settings(settings.notifications.push_provider)
    task = asyncio.current_task()
    assert task is not None  # uvloop.run runs _run as a task
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    try:
        await run_consumer(settings, provider)
    except asyncio.CancelledError:
        pass
    return 0


def main() -> int:
    from runtime.observability.process import setup_process

    settings = Settings.from_env()
    setup_process("notifications", settings)  # JSON logs on stderr, tracing if configured
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    # uvloop, as the projection worker (ADR 0310): on asyncio's loop the consumer's
    # socket writes were 27 % of its samples under transfers
    # (docs/adr/0319-notification-consumer-on-uvloop-one-redis-round-trip-per-batch.md).
    return uvloop.run(_run(settings))


if __name__ == "__main__":
    sys.exit(main())
