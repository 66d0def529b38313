"""The API's Prometheus metrics (names, types and labels from
infra/prometheus/metrics-contract.yml) and cheap recording helpers.

They live in their own registry (``API_REGISTRY``), so that the projection
worker, which imports the query cache, does not expose API metrics at zero;
the API's /metrics adds prometheus_client's default registry (the process
collector: process_cpu_seconds_total, process_resident_memory_bytes). Metric
objects are module singletons, so several apps in one process (tests) share
them. Hot-path helpers cache the labelled children: a recording costs a dict
lookup and a lock, about a microsecond.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

# Latency buckets: fine below 50 ms (where the API lives), 250 ms is the p99 SLO.
HTTP_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.0075,
    0.01,
    0.015,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
PUSH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
disable_created_metrics()  # no *_created series: half the lines, nothing reads them
API_REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_REQUESTS = Counter(
    "http_requests",
    "HTTP requests answered, by route template, method and status code",
    ["route", "method", "status"],
    registry=API_REGISTRY,
)
HTTP_DURATION = Histogram(
    "http_request_duration_seconds",
    "Time from request received to response sent",
    ["route", "method"],
    buckets=HTTP_BUCKETS,
    registry=API_REGISTRY,
)
COMMANDS = Counter(
    "bank_commands",
    "Commands handled, by outcome: ok | rejected | conflict | replayed | error",
    ["command", "outcome"],
    registry=API_REGISTRY,
)
COMMAND_REFUSALS = Counter(
    "bank_command_refusals",
    "Commands refused with a 4xx, by error code"
    " (insufficient_funds, account_frozen, forbidden, ...)",
    ["command", "code"],
    registry=API_REGISTRY,
)
COMMAND_RETRIES = Counter(
    "bank_command_retries",
    "Optimistic-concurrency retries: an append that lost the race, re-decided on fresh state",
    ["command"],
    registry=API_REGISTRY,
)
WEBSOCKETS = Gauge(
    "bank_websocket_connections",
    "Open WebSocket connections on this API instance",
    registry=API_REGISTRY,
)
PUSH_LATENCY = Histogram(
    "bank_push_latency_seconds",
    "From the event's commit time to the WebSocket send of its push",
    buckets=PUSH_BUCKETS,
    registry=API_REGISTRY,
)
CACHE_REQUESTS = Counter(
    "bank_query_cache_requests",
    "Query cache lookups in Redis, by cache and result (hit | miss)",
    ["cache", "result"],
    registry=API_REGISTRY,
)
KEPT_READS = Counter(
    "bank_query_kept_reads",
    "Plain reads answered from the account state the process kept, at the stream's head"
    " (no query-cache lookup)",
    registry=API_REGISTRY,
)

# Series that exist from the start at 0, so that rate() and ratios work before
# the first event (a retry is rare; a fresh instance has no cache hits yet).
for _command in ("open_account", "deposit_money", "withdraw_money", "transfer_money"):
    COMMAND_RETRIES.labels(_command)
for _cache in ("account", "account_list"):
    for _result in ("hit", "miss"):
        CACHE_REQUESTS.labels(_cache, _result)

# --- hot-path helpers ----------------------------------------------------------

_http_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def observe_http(route: str, method: str, status: int, seconds: float) -> None:
    key = (route, method, status)
    children = _http_children.get(key)
    if children is None:
        children = _http_children[key] = (
            HTTP_REQUESTS.labels(route, method, str(status)),
            HTTP_DURATION.labels(route, method),
        )
    children[0].inc()
    children[1].observe(seconds)


_command_children: dict[tuple[str, str], Any] = {}


def count_command(command: str, outcome: str, n: int = 1) -> None:
    key = (command, outcome)
    child = _command_children.get(key)
    if child is None:
        child = _command_children[key] = COMMANDS.labels(command, outcome)
    child.inc(n)


def count_refusal(command: str, code: str) -> None:
    COMMAND_REFUSALS.labels(command, code).inc()


def count_retry(command: str) -> None:
    COMMAND_RETRIES.labels(command).inc()


_cache_children: dict[tuple[str, bool], Any] = {}


def cache_lookup(cache: str, hit: bool) -> None:
    key = (cache, hit)
    child = _cache_children.get(key)
    if child is None:
        child = _cache_children[key] = CACHE_REQUESTS.labels(cache, "hit" if hit else "miss")
    child.inc()


def observe_push(committed_at: datetime | None) -> None:
    """A live message was sent; ``committed_at`` is its event's recorded time."""
    if committed_at is not None:
        PUSH_LATENCY.observe(max(time.time() - committed_at.timestamp(), 0.0))


# --- DB pools (read at scrape time, nothing on the hot path) --------------------

PoolSource = Callable[[], Any]  # returns an asyncpg.Pool or None


class PoolCollector(Collector):
    """bank_db_pool_connections{pool,state} and bank_db_pool_max_connections{pool}."""

    def __init__(self) -> None:
        self.sources: dict[str, PoolSource] = {}

    def collect(self) -> Iterable[GaugeMetricFamily]:
        conns = GaugeMetricFamily(
            "bank_db_pool_connections",
            "Connections of a PostgreSQL pool, by state (in_use | idle)",
            labels=["pool", "state"],
        )
        maxes = GaugeMetricFamily(
            "bank_db_pool_max_connections", "Maximum size of a PostgreSQL pool", labels=["pool"]
        )
        for name, source in list(self.sources.items()):
            try:
                pool = source()
                if pool is None:
                    continue
                size, idle, top = pool.get_size(), pool.get_idle_size(), pool.get_max_size()
            except Exception:  # a pool being closed: skip it this scrape
                continue
            conns.add_metric([name, "in_use"], size - idle)
            conns.add_metric([name, "idle"], idle)
            maxes.add_metric([name], top)
        yield conns
        yield maxes

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return []


POOLS = PoolCollector()
API_REGISTRY.register(POOLS)


def watch_pool(name: str, source: PoolSource) -> None:
    """Expose the pool that ``source()`` returns (None while there is none)."""
    POOLS.sources[name] = source


def exposition() -> tuple[bytes, str]:
    """The text exposition (API metrics + the process collector) and its content type."""
    return generate_latest(API_REGISTRY) + generate_latest(REGISTRY), CONTENT_TYPE_LATEST
