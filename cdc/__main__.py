"""``python -m cdc``: run the connector until SIGTERM/SIGINT, then flush and confirm."""

from __future__ import annotations

import asyncio
import logging
import signal

import uvloop

from cdc.connector import Connector
from cdc.health import Progress
from cdc.metrics import Metrics
from runtime.observability.process import setup_process
from runtime.settings import Settings

log = logging.getLogger("cdc")


async def serve(settings: Settings) -> None:
    metrics = Metrics(progress=Progress(settings.pipeline_stall_seconds))
    metrics.serve(settings.cdc_metrics_port, settings.metrics_host)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info(
        "metrics and health on http://%s:%d/metrics, /health",
        settings.metrics_host,
        settings.cdc_metrics_port,
    )
    connector = Connector(settings, metrics)
    watch = asyncio.create_task(
        metrics.watch_slot(
            settings.admin_database_url,
            settings.cdc_slot,
            stop,
            on_lost=connector.postgres_went_away,
            on_connected=connector.postgres_is_back,
        )
    )
    try:
        await connector.run(stop)
    finally:
        stop.set()
        await watch


def main() -> None:
    settings = Settings.from_env()
    setup_process("cdc", settings)  # JSON logs, tracing if an OTLP endpoint is set
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    uvloop.run(serve(settings))  # less loop overhead per message than asyncio's default loop


if __name__ == "__main__":
    main()
