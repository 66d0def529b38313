"""The API's own signals (the shared ones live in ``runtime.observability``).

- ``metrics``: the metric objects of the contract (infra/prometheus/metrics-contract.yml)
  that the API exposes, and small recording helpers for the hot path.
- ``http``: the API's outermost ASGI wrapper (request metrics, trace and request
  ids, access log) and GET /metrics.
- ``commands``: the command runner's hook (outcomes, retries, spans).
"""
