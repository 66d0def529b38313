"""The faults the chaos suite inflicts, and how it tells that the victim is back.

Every process of the stack is killed once with SIGKILL (as `kill -9 PID` taken from
`./task status` would), and the connector and the notification consumer are frozen
once each with SIGSTOP. The full form also freezes the API, Redis, the broker and
PostgreSQL's postmaster (FULL_ONLY); the short form does so on demand.
Nobody here restarts anything: the stack's supervisor (infra/local/supervisor.py, the
one `./task up` runs) must notice and recover, as it would on a developer's machine.
"""

from __future__ import annotations

import contextlib
import os
import signal
from dataclasses import dataclass

import psycopg2

from infra.local.procs import http_ready
from infra.local.services import kafka_api_versions, redis_ping
from infra.local.stack import EmbeddedStack


@dataclass(frozen=True)
class Fault:
    target: str  # api | cdc | projections | notifications | kafka | redis | postgres
    sig: signal.Signals = signal.SIGKILL

    @property
    def label(self) -> str:
        return f"{self.sig.name} {self.target}"


SCHEDULE = (
    Fault("api"),
    Fault("cdc"),
    Fault("projections"),
    Fault("notifications"),
    Fault("kafka"),
    Fault("redis"),
    Fault("postgres"),
    Fault("cdc", signal.SIGSTOP),
    Fault("notifications", signal.SIGSTOP),
)

# Freezes the supervisor also answers (docs/adr/0712, 0713): in the full form's schedule,
# and in the short form's only when named with ``--faults`` (e.g. SIGSTOP:api). Each
# costs about 10 s before the restart, which the short form inside the test suite does
# not have room for.
FULL_ONLY = (
    Fault("api", signal.SIGSTOP),
    Fault("redis", signal.SIGSTOP),
    Fault("kafka", signal.SIGSTOP),
    Fault("postgres", signal.SIGSTOP),  # the postmaster: no new connection is served
)


def victim_pid(stack: EmbeddedStack, target: str) -> int | None:
    if target == "postgres":
        return stack.postgres.running_pid()  # the postmaster
    proc = stack.processes.get(target)
    return proc.pid if proc is not None and proc.alive else None


def inflict(stack: EmbeddedStack, fault: Fault) -> int:
    """Send the signal; returns the victim's pid. Does not wait for anything."""
    pid = victim_pid(stack, fault.target)
    if pid is None:
        raise RuntimeError(f"{fault.target} is not running: cannot {fault.label}")
    if fault.target == "postgres":
        os.kill(pid, fault.sig)  # the postmaster alone; its backends notice and exit
    else:
        os.killpg(pid, fault.sig)  # each child leads its own process group
    return pid


def thaw(stack: EmbeddedStack) -> None:
    """SIGCONT to every process a freeze may have hit and that still runs."""
    for target in (*stack.processes, "postgres"):
        with contextlib.suppress(RuntimeError, ProcessLookupError):  # not running
            inflict(stack, Fault(target, signal.SIGCONT))


def is_back(stack: EmbeddedStack, target: str, old_pid: int) -> bool:
    """A new process of the target runs and answers on its port."""
    pid = victim_pid(stack, target)
    if pid is None or pid == old_pid:
        return False
    if target == "api":
        return http_ready(f"{stack.api_url}/health/live")()
    if target == "redis":
        return redis_ping(stack.ports.redis)
    if target == "kafka":
        return kafka_api_versions(stack.ports.kafka)
    if target == "postgres":
        try:
            conn = psycopg2.connect(stack.admin_database_url, connect_timeout=1)
        except psycopg2.Error:
            return False
        conn.close()
        return True
    proc = stack.processes[target]
    return proc.ready is None or proc.ready()
