"""Loopback ports of the local stack: fixed defaults for `./task up`, free ones for tests."""

from __future__ import annotations

import dataclasses
import os
import socket
from collections.abc import Iterable, Mapping

HOST = "127.0.0.1"

# The environment variable that chooses each port (StackPorts' fields).
PORT_ENV_VARS = {
    "postgres": "BANK_PG_PORT",
    "redis": "BANK_REDIS_PORT",
    "kafka": "BANK_KAFKA_PORT",
    "api": "BANK_API_PORT",
    "client": "BANK_CLIENT_PORT",
    "cdc_metrics": "BANK_CDC_METRICS_PORT",
    "projections_metrics": "BANK_PROJECTIONS_METRICS_PORT",
    "notifications_metrics": "BANK_NOTIFICATIONS_METRICS_PORT",
    "scheduler_metrics": "BANK_SCHEDULER_METRICS_PORT",
}

# The port each app process listens on (by its name in infra/local/apps.APPS): checked
# free before `./task up` starts them, and given to each in its PORT_ENV_VARS variable.
APP_PORTS = {
    "api": "api",
    "cdc": "cdc_metrics",
    "projections": "projections_metrics",
    "notifications": "notifications_metrics",
    "scheduler": "scheduler_metrics",
    "client": "client",
}


@dataclasses.dataclass(frozen=True)
class StackPorts:
    # Keep in sync with the defaults in server/settings.py.
    postgres: int = 54329
    redis: int = 63799
    kafka: int = 19092
    api: int = 8000
    client: int = 8550
    cdc_metrics: int = 9101
    projections_metrics: int = 9102
    notifications_metrics: int = 9103
    scheduler_metrics: int = 9104

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> StackPorts:
        """Defaults, overridden by the variables of PORT_ENV_VARS (BANK_PG_PORT, ...)."""
        env = os.environ if environ is None else environ
        values = {field: int(env[var]) for field, var in PORT_ENV_VARS.items() if env.get(var)}
        return cls(**values)

    def env(self, fields: Iterable[str] | None = None) -> dict[str, str]:
        """The variables that choose these ports (``from_env``'s), all or ``fields``."""
        return {PORT_ENV_VARS[f]: str(getattr(self, f)) for f in fields or PORT_ENV_VARS}

    @classmethod
    def free(cls) -> StackPorts:
        """Ports the kernel says are free right now (for isolated test stacks)."""
        fields = [f.name for f in dataclasses.fields(cls)]
        socks = []
        try:
            for _ in fields:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.bind((HOST, 0))
                socks.append(s)
            return cls(**{name: s.getsockname()[1] for name, s in zip(fields, socks, strict=True)})
        finally:
            for s in socks:
                s.close()

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = HOST, timeout: float = 0.2) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def port_bindable(port: int, host: str = HOST) -> bool:
    """True when we could listen on host:port ourselves."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()
