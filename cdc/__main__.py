"""``python -m cdc``: run the connector until SIGTERM/SIGINT, then flush and confirm."""

from __future__ import annotations

import asyncio
import logging
import signal

from cdc.connector import Connector
from cdc.metrics import Metrics
from server.settings import Settings

log = logging.getLogger("cdc")


async def serve(settings: Settings) -> None:
    metrics = Metrics()
    metrics.serve(settings.cdc_metrics_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("metrics on http://127.0.0.1:%d/metrics", settings.cdc_metrics_port)
    await Connector(settings, metrics).run(stop)


def main() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    settings = Settings.from_env()
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
