"""The one-command local embedded stack (PostgreSQL, Redis, Tansu) and its process supervisor."""

from infra.local.ports import StackPorts
from infra.local.procs import ManagedProcess, ProcessFailedError
from infra.local.stack import EmbeddedStack, PortInUseError, StackAlreadyRunningError, StackError

__all__ = [
    "EmbeddedStack",
    "ManagedProcess",
    "PortInUseError",
    "ProcessFailedError",
    "StackAlreadyRunningError",
    "StackError",
    "StackPorts",
]
