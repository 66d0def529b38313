"""`python -m server.api`: serve the API with uvicorn, configured from the BANK_ settings.

HTTPS when BANK_TLS_CERTFILE and BANK_TLS_KEYFILE are set (production takes its
certificate this way; the local stack's `--tls` passes a generated one).
BANK_API_WORKERS worker processes share the port (0 = one per CPU core).
"""

from __future__ import annotations

import os
import sys
from typing import TypedDict

import uvicorn

from runtime.settings import Settings
from server.api.http_protocol import PROTOCOL

# How long an idle keep-alive connection stays open. Longer than client pools keep
# theirs (aiohttp 15 s, load balancers commonly 60 s): a server that closes first races
# the client, which sends its next request, a POST it will not retry, on a connection
# being closed, and gets a reset (uvicorn's default of 5 s did this to 1 batch in ~40
# of the bench's, in a pool where a connection idled 5 s between two batches).
KEEP_ALIVE_SECONDS = 75


class UvicornOptions(TypedDict, total=False):
    """The keyword arguments of ``uvicorn.run`` that the API sets."""

    factory: bool
    host: str
    port: int
    loop: str
    http: str
    proxy_headers: bool
    server_header: bool
    access_log: bool
    timeout_keep_alive: int
    workers: int
    ssl_certfile: str
    ssl_keyfile: str


def uvicorn_options(settings: Settings) -> UvicornOptions:
    options: UvicornOptions = {
        "factory": True,
        "host": settings.api_host,
        "port": settings.api_port,
        "loop": "uvloop",
        "http": PROTOCOL,  # httptools, one write per response (server/api/http_protocol.py)
        "proxy_headers": True,
        "server_header": False,
        "access_log": False,
        "timeout_keep_alive": KEEP_ALIVE_SECONDS,
        "workers": workers(settings),
    }
    if bool(settings.tls_certfile) != bool(settings.tls_keyfile):
        raise SystemExit("Set both BANK_TLS_CERTFILE and BANK_TLS_KEYFILE, or neither.")
    if settings.tls_certfile:
        options["ssl_certfile"] = settings.tls_certfile
        options["ssl_keyfile"] = settings.tls_keyfile
    return options


def workers(settings: Settings) -> int:
    """How many API processes to run: the setting, or one per core when it is 0."""
    if settings.api_workers < 0:
        raise SystemExit("BANK_API_WORKERS must be 0 (one per core) or more.")
    return settings.api_workers or os.cpu_count() or 1


def main() -> None:
    settings = Settings.from_env()
    try:
        options = uvicorn_options(settings)
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        raise
    uvicorn.run("server.api.app:create_app", **options)


if __name__ == "__main__":
    main()
