"""Signals of every process: Prometheus metrics, OpenTelemetry traces, structured logs.

- ``metrics``: the metric objects of the contract (infra/prometheus/metrics-contract.yml)
  that the API exposes, and small recording helpers for the hot path.
- ``http``: the API's outermost ASGI wrapper (request metrics, trace and request
  ids, access log) and GET /metrics.
- ``commands``: the command runner's hook (outcomes, retries, spans).
- ``tracing``: OpenTelemetry setup (OTLP only when an endpoint is configured).
- ``logging``: structlog JSON logs with trace id, request id and actor, redacted.
- ``context``: the per-request trace id / request id / scope (contextvars).
- ``pipeline``: the projection worker's per-batch log line and spans.

Nothing here imports the API, the application or the domain: they import this.
"""
