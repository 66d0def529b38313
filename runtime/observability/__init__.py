"""Signals every process shares: structured logs, traces, the per-request context,
the pipeline's per-batch spans, and process start-up.

- ``logging``: structlog JSON logs with trace id, request id and actor, redacted.
- ``tracing``: OpenTelemetry setup (OTLP only when an endpoint is configured).
- ``context``: the per-request trace id / request id / scope (contextvars).
- ``pipeline``: the CDC connector's and projection worker's per-batch spans and logs.
- ``process``: ``setup_process`` (logging + tracing) for a non-HTTP process.

Nothing here imports the API, the application or the domain: they import this.
"""
