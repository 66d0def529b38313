"""Ask a pipeline process (CDC connector, projection worker, notification consumer,
scheduler) whether it makes progress.

Each serves ``GET /health`` on its metrics port (the "Pipeline health" contract):
JSON with ``status`` ok | stalled | starting, ``last_progress_age_seconds`` and lag
details; HTTP 503 when stalled. A process that does not answer within the deadline
(a frozen one: SIGSTOP, a deadlock) is as stuck as one that says so. A port that
answers but has no such endpoint yet (404, or Prometheus text) gives no progress
information: the process is then watched for liveness only.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from infra.local.ports import HOST
from infra.local.procs import SELF_SIGNED_ACCEPTED
from infra.local.services import kafka_api_versions, postgres_answers, redis_ping

OK = "ok"
STARTING = "starting"
STALLED = "stalled"
NO_INFO = "no-info"  # the port answers, without a health document
NO_ANSWER = "no-answer"  # refused, reset or not answered within the deadline

STUCK_STATES = frozenset({STALLED, NO_ANSWER})

# The processes that serve GET /health: `./task status` shows it, the supervisor acts on it.
PIPELINE = ("cdc", "projections", "notifications", "scheduler")

HEALTH_PATH = "/health"


@dataclass(frozen=True)
class PipelineHealth:
    state: str
    document: dict[str, Any] = field(default_factory=dict)
    error: str = ""

    @property
    def stuck(self) -> bool:
        return self.state in STUCK_STATES

    def summary(self) -> str:
        """One line for `./task status`: state, age of last progress, lag."""
        if self.state == NO_ANSWER:
            return f"health: no answer ({self.error})"
        if self.state == NO_INFO:
            return "health: no progress info"
        doc = self.document
        parts = [f"health: {self.state}"]
        age = doc.get("last_progress_age_seconds")
        if isinstance(age, int | float):
            parts.append(f"progress {age:.1f}s ago")
        if "slot_lag_bytes" in doc:
            parts.append(f"slot lag {_bytes(doc['slot_lag_bytes'])}")
        hb = doc.get("heartbeat_age_seconds")
        if isinstance(hb, int | float):
            parts.append(f"heartbeat {hb:.1f}s ago")
        if "lag" in doc:
            parts.append(f"lag {total_lag(doc['lag'])} records")
        failed = doc.get("failed_partitions")
        if failed:
            parts.append(f"failed partitions {failed}")
        return ", ".join(parts)


def total_lag(lag: Any) -> int:
    """Sum a per topic-partition lag given as a mapping, a list of numbers or of
    {"lag": n} objects, or a plain number."""
    if isinstance(lag, bool):
        return 0
    if isinstance(lag, int | float):
        return int(lag)
    if isinstance(lag, dict):
        if "lag" in lag:
            return total_lag(lag["lag"])
        return sum(total_lag(v) for v in lag.values())
    if isinstance(lag, list):
        return sum(total_lag(v) for v in lag)
    return 0


def _bytes(n: Any) -> str:
    if not isinstance(n, int | float):
        return str(n)
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def parse(status_code: int, body: bytes) -> PipelineHealth:
    """The health of a process from its answer to GET /health."""
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    if not isinstance(doc, dict) or "status" not in doc:
        if status_code == 503:  # a 503 without a document still says "not progressing"
            return PipelineHealth(STALLED, error="503 without a health document")
        return PipelineHealth(NO_INFO, error=f"HTTP {status_code}, no health document")
    state = str(doc["status"])
    if status_code == 503 or state == STALLED:
        return PipelineHealth(STALLED, doc)
    if state in (OK, STARTING):
        return PipelineHealth(state, doc)
    return PipelineHealth(NO_INFO, doc, error=f"unknown status {state!r}")


def probe(
    port: int,
    host: str = HOST,
    timeout: float = 2.0,
    *,
    path: str = HEALTH_PATH,
    scheme: str = "http",
) -> PipelineHealth:
    """GET scheme://host:port/path (GET /health by default) within ``timeout`` seconds;
    over https the stack's self-signed certificate is accepted."""
    url = f"{scheme}://{host}:{port}{path}"
    context = SELF_SIGNED_ACCEPTED if scheme == "https" else None
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as resp:
            return parse(resp.status, resp.read(1 << 20))
    except urllib.error.HTTPError as exc:
        try:
            body = exc.read(1 << 20)
        except OSError:
            body = b""
        return parse(exc.code, body)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return PipelineHealth(NO_ANSWER, error=str(reason) or type(exc).__name__)


def scheme_of(url: str | None) -> str:
    """How a process whose base URL is ``url`` is asked: https under ``./task up --
    --tls`` (the API), else http (no URL: a server or a metrics port)."""
    return "https" if (url or "").startswith("https:") else "http"


# -- asking a process whether it answers ---------------------------------------------
# (port, deadline in seconds, "http" | "https") -> what the process said
Ask = Callable[[int, float, str], PipelineHealth]


def ask_http(path: str) -> Ask:
    """GET ``path`` on the process's port."""

    def ask(port: int, timeout: float, scheme: str) -> PipelineHealth:
        return probe(port, timeout=timeout, path=path, scheme=scheme)

    return ask


def _answered(ok: bool, what: str) -> PipelineHealth:
    return PipelineHealth(OK) if ok else PipelineHealth(NO_ANSWER, error=f"no {what} in time")


def ask_redis(port: int, timeout: float, scheme: str) -> PipelineHealth:
    """PING: a Redis that does not say PONG in time does not answer."""
    return _answered(redis_ping(port, timeout=timeout), "PONG")


def ask_kafka(port: int, timeout: float, scheme: str) -> PipelineHealth:
    """ApiVersions: a broker that does not answer it in time does not answer."""
    return _answered(kafka_api_versions(port, timeout=timeout), "ApiVersions answer")


def ask_postgres(port: int, timeout: float, scheme: str) -> PipelineHealth:
    """SSLRequest: a PostgreSQL that does not answer it in time does not answer."""
    return _answered(postgres_answers(port, timeout=timeout), "answer to an SSLRequest")


ask_progress = ask_http(HEALTH_PATH)  # the pipeline processes (PIPELINE)

# The processes with no progress document, and how each is asked whether it answers: the
# API on its own liveness path (served by the event loop that serves requests; the path
# of Kubernetes' liveness probe), the web client for its page (the app's index.html), the
# embedded servers in their own protocols. One that stops answering is as stuck as a
# pipeline process that does not answer (docs/adr/0712, 0713).
LIVENESS: dict[str, Ask] = {
    "api": ask_http("/health/live"),
    "client": ask_http("/"),
    "redis": ask_redis,
    "kafka": ask_kafka,
    "postgres": ask_postgres,
}
