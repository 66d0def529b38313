"""Signals of the running stack: every process serves the metrics of the contract
(infra/prometheus/metrics-contract.yml) after real traffic, one deposit's trace id
goes from the API's log line to the projection worker's, and no password, token
or secret ever reaches a log line."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect

from infra.local.procs import ManagedProcess
from infra.local.stack import EmbeddedStack
from tests.integration.test_live import hello, settle, until, ws_url
from tests.integration.test_projections import funded_customer, wait_projected
from tests.support.customers import sign_in

CONTRACT = Path(__file__).resolve().parents[2] / "infra" / "prometheus" / "metrics-contract.yml"
DEPOSITS_ROUTE = "/api/v1/accounts/{account_id}/deposits"


def contract() -> dict[str, Any]:
    return yaml.safe_load(CONTRACT.read_text())  # type: ignore[no-any-return]


Samples = dict[str, list[tuple[dict[str, str], float]]]


async def scrape(url: str) -> Samples:
    async with httpx.AsyncClient(timeout=10) as client:
        r = await client.get(url)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    out: Samples = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out.setdefault(s.name, []).append((dict(s.labels), s.value))
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    return sum(
        v for lbl, v in samples.get(name, []) if all(lbl.get(k) == x for k, x in labels.items())
    )


def missing_contract_metrics(job: str, samples: Samples) -> list[str]:
    """Contract metrics of ``job`` absent from ``samples`` or with other label names."""
    problems = []
    for m in contract()["metrics"]:
        if m["job"] != job:
            continue
        name = m["name"] + ("_bucket" if m["type"] == "histogram" else "")
        got = samples.get(name)
        if not got:
            problems.append(f"{m['name']}: no samples")
            continue
        for lbl, _ in got:
            names = set(lbl) - {"le"}
            if names != set(m["labels"]):
                problems.append(f"{m['name']}: labels {sorted(names)} != {sorted(m['labels'])}")
                break
    for name in ("process_cpu_seconds_total", "process_resident_memory_bytes"):
        if name not in samples:
            problems.append(f"{name}: no samples")
    return problems


def log_lines(stack: EmbeddedStack, name: str) -> list[dict[str, Any]]:
    """The JSON lines of a process's log (the launcher's own '=== start' lines skipped)."""
    path = stack.logs_dir / f"{name}.log"
    out = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


async def wait_for(check: Any, timeout: float = 20.0, every: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = await check()
        if got or time.monotonic() > deadline:
            return got
        await asyncio.sleep(every)


async def test_every_process_serves_the_contract_metrics_after_traffic(
    http: httpx.AsyncClient,
    api_url: str,
    cdc: ManagedProcess,
    projections: ManagedProcess,
    db: asyncpg.Pool,
    stack: EmbeddedStack,
) -> None:
    ada, account = await funded_customer(http)
    key = str(uuid.uuid4())
    assert (await ada.deposit(account, 50_00, key=key)).status_code == 201
    assert (await ada.deposit(account, 50_00, key=key)).headers.get("idempotent-replayed") == "true"
    assert (await ada.withdraw(account, 1_000_000_00)).status_code == 422  # rule says no
    await wait_projected(db, account, 2)
    for _ in range(2):  # a miss fills the cache, then hits
        assert (await ada.account(account)).status_code == 200
    async with connect(ws_url(api_url, ada.token)) as ws:
        await hello(ws, {account: 2})
        await settle(ws)
        r = await ada.deposit(account, 1_00)
        assert r.status_code == 201
        await until(ws, lambda m: m["type"] == "BalanceChanged" and m["version"] >= 3)
        api = await scrape(f"{api_url}/metrics")
        assert value(api, "bank_websocket_connections") >= 1

    assert value(api, "http_requests_total", route=DEPOSITS_ROUTE, method="POST", status="201") >= 2
    assert (
        value(api, "http_request_duration_seconds_count", route=DEPOSITS_ROUTE, method="POST") >= 3
    )
    assert not any(
        "/api/v1/accounts/" + account in lbl.get("route", "")
        for lbl, _ in api["http_requests_total"]
    ), "raw paths leak into route labels"
    # A customer's deposit is a development top-up (issue #17); staff's is cash.
    deposits = ("top_up_account", "deposit_money")
    assert sum(value(api, "bank_commands_total", command=c, outcome="ok") for c in deposits) >= 2
    assert (
        sum(value(api, "bank_commands_total", command=c, outcome="replayed") for c in deposits) >= 1
    )
    assert value(api, "bank_commands_total", command="withdraw_money", outcome="rejected") >= 1
    refused = {
        lbl["code"]
        for lbl, v in api["bank_command_refusals_total"]
        if lbl["command"] == "withdraw_money" and v >= 1
    }
    assert refused & {"insufficient_funds", "amount_over_limit"}, refused
    assert value(api, "bank_push_latency_seconds_count") >= 1
    assert value(api, "bank_query_cache_requests_total", cache="account", result="hit") >= 1
    assert value(api, "bank_db_pool_max_connections", pool="commands") >= 1
    assert "bank_db_pool_connections" in api
    # Declared even before the first lost race (only a conflict makes a sample).
    assert "# TYPE bank_command_retries_total counter" in (await http.get("/metrics")).text
    assert missing_contract_metrics("api", api) == []

    cdc_url = f"http://127.0.0.1:{stack.ports.cdc_metrics}/metrics"
    proj_url = f"http://127.0.0.1:{stack.ports.projections_metrics}/metrics"

    async def cdc_complete() -> Samples | None:
        s = await scrape(cdc_url)
        return s if not missing_contract_metrics("cdc", s) else None

    async def projections_complete() -> Samples | None:
        s = await scrape(proj_url)
        return s if not missing_contract_metrics("projections", s) else None

    cdc_samples = await wait_for(cdc_complete)
    assert cdc_samples, missing_contract_metrics("cdc", await scrape(cdc_url))
    assert value(cdc_samples, "bank_cdc_records_total", topic="account-events") >= 3
    proj_samples = await wait_for(projections_complete)
    assert proj_samples, missing_contract_metrics("projections", await scrape(proj_url))
    assert value(proj_samples, "bank_projection_batch_size_count") >= 1
    partitions = {lbl["partition"] for lbl, _ in proj_samples["kafka_consumer_lag"]}
    assert partitions and all(p.isdigit() for p in partitions)


async def test_one_deposit_is_followed_by_its_trace_id_from_api_log_to_projection_log(
    http: httpx.AsyncClient,
    api_url: str,
    cdc: ManagedProcess,
    projections: ManagedProcess,
    db: asyncpg.Pool,
    stack: EmbeddedStack,
) -> None:
    ada, account = await funded_customer(http)
    trace_id = os.urandom(16).hex()
    traceparent = f"00-{trace_id}-{os.urandom(8).hex()}-01"
    r = await http.post(
        f"/api/v1/accounts/{account}/deposits",
        json={"amount": 12_34},
        headers={**ada.auth, "Idempotency-Key": str(uuid.uuid4()), "traceparent": traceparent},
    )
    assert r.status_code == 201, r.text
    request_id = r.headers["x-request-id"]

    # The event store keeps the trace id in the event's metadata (it rides to Kafka).
    stored = await db.fetchval(
        "SELECT metadata->>'trace_id' FROM events WHERE stream_id = $1 AND version = 2",
        uuid.UUID(account),
    )
    assert stored == trace_id

    async def api_line() -> dict[str, Any] | None:
        return next(
            (
                ln
                for ln in log_lines(stack, "api")
                if ln.get("trace", {}).get("id") == trace_id
                and ln.get("url", {}).get("path") == DEPOSITS_ROUTE
            ),
            None,
        )

    line = await wait_for(api_line, timeout=5)
    assert line, f"no API log line with trace_id {trace_id}"
    # ECS field names (runtime/observability/ecs.py).
    assert line["http"]["response"]["status_code"] == 201
    assert line["http"]["request"]["method"] == "POST"
    assert line["http"]["request"]["id"] == request_id
    assert line["user"]["id"] == ada.user_id
    assert line["log"]["level"] == "info" and "@timestamp" in line
    assert line["service"]["name"] == "api" and line["event"]["dataset"] == "bank.api"

    async def projection_line() -> dict[str, Any] | None:
        return next(
            (
                ln
                for ln in log_lines(stack, "projections")
                if trace_id in ln.get("bank", {}).get("trace_ids", ())
            ),
            None,
        )

    applied = await wait_for(projection_line, timeout=30)
    assert applied, f"the projection worker never logged trace_id {trace_id}"
    assert applied["message"] == "projection batch applied" and applied["bank"]["events"] >= 1


async def test_no_password_token_or_secret_reaches_any_log_line(
    http: httpx.AsyncClient,
    api_url: str,
    cdc: ManagedProcess,
    projections: ManagedProcess,
    stack: EmbeddedStack,
) -> None:
    email = f"grace.{uuid.uuid4().hex[:10]}@example.com"
    password = f"Pw-{uuid.uuid4().hex}-never-logged"
    wrong = f"Wrong-{uuid.uuid4().hex}-never-logged"
    r = await http.post(
        "/api/v1/auth/register",
        json={"email": email, "password": password, "full_name": "Grace Hopper"},
    )
    assert r.status_code == 201, r.text
    t = await sign_in(http, email, password)
    assert t.status_code == 200, t.text
    tokens = t.json()
    r = await http.post(
        "/api/v1/auth/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
    )
    assert r.status_code == 200, r.text
    refreshed = r.json()
    bad = await sign_in(http, email, wrong)
    assert bad.status_code in (400, 401), bad.text
    # A token in a place a careless log might pick up: the WebSocket URL, a bad header.
    async with connect(ws_url(api_url, refreshed["access_token"])) as ws:
        await hello(ws)
    await http.get(
        "/api/v1/accounts", headers={"Authorization": f"Bearer {tokens['access_token']}x"}
    )

    secrets = {
        "password": password,
        "wrong password": wrong,
        "access token": tokens["access_token"],
        "refresh token": tokens["refresh_token"],
        "refreshed access token": refreshed["access_token"],
        "refreshed refresh token": refreshed["refresh_token"],
    }
    key_file = stack.data_dir / "secrets" / "jwt.key"
    if key_file.exists():
        secrets["JWT signing key"] = key_file.read_text().strip()
    # The request above produced an access-log line: logs are being written.
    await wait_for(
        lambda: _async(
            any(
                ln.get("url", {}).get("path") == "/api/v1/auth/token"
                for ln in log_lines(stack, "api")
            )
        ),
        timeout=5,
    )
    leaks = []
    for path in sorted(stack.logs_dir.glob("*.log")):
        text = path.read_text(errors="replace")
        for what, secret in secrets.items():
            for part in {secret, *secret.split(".")} if what.endswith("token") else {secret}:
                if len(part) >= 16 and part in text:
                    leaks.append(f"{what} in {path.name}")
        if "Bearer ey" in text:
            leaks.append(f"a bearer token in {path.name}")
    assert leaks == []


async def _async(v: Any) -> Any:
    return v


@pytest.mark.parametrize("name", ["api", "cdc", "projections"])
async def test_every_process_logs_json_lines(
    name: str,
    api_url: str,
    cdc: ManagedProcess,
    projections: ManagedProcess,
    stack: EmbeddedStack,
) -> None:
    path = stack.logs_dir / f"{name}.log"
    text = path.read_text(errors="replace")
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("=== ")]
    assert lines, f"{name} logged nothing"
    # The last start of the process wrote only JSON objects (tracebacks included, as a field).
    all_lines = text.splitlines()
    last_start = max(i for i, ln in enumerate(all_lines) if ln.startswith("=== "))
    tail = [ln for ln in all_lines[last_start + 1 :] if ln.strip()]
    bad = [ln[:200] for ln in tail if not ln.startswith("{")]
    assert bad == [], f"non-JSON lines in {name}.log: {bad[:5]}"
    for ln in tail:
        obj = json.loads(ln)
        # ECS field names (runtime/observability/ecs.py).
        assert {"@timestamp", "log", "message", "service"} <= set(obj), obj
        assert obj["service"]["name"] == name and obj["log"]["level"]


class _OtlpReceiver:
    """A minimal OTLP/HTTP trace receiver (what Jaeger's :4318 does), in a thread."""

    def __init__(self) -> None:
        import http.server
        import threading

        received = self.received = []  # type: list[bytes]

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                if self.path == "/v1/traces":
                    received.append(body)
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def spans(self) -> list[tuple[str, Any]]:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )

        out = []
        for body in list(self.received):
            req = ExportTraceServiceRequest.FromString(body)
            for rs in req.resource_spans:
                service = next(
                    a.value.string_value for a in rs.resource.attributes if a.key == "service.name"
                )
                out.extend((service, s) for ss in rs.scope_spans for s in ss.spans)
        return out


async def test_the_api_exports_the_deposit_trace_over_otlp_when_an_endpoint_is_set(
    api_factory: Any,
    cdc: ManagedProcess,
    projections: ManagedProcess,
) -> None:
    receiver = _OtlpReceiver()
    try:
        api = api_factory(
            extra_env={
                "BANK_OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
                "OTEL_BSP_SCHEDULE_DELAY": "100",
            }
        )
        async with httpx.AsyncClient(base_url=api.url, timeout=30) as client:
            ada, account = await funded_customer(client)
            trace_id, caller = os.urandom(16).hex(), os.urandom(8).hex()
            r = await client.post(
                f"/api/v1/accounts/{account}/deposits",
                json={"amount": 5_00},
                headers={
                    **ada.auth,
                    "Idempotency-Key": str(uuid.uuid4()),
                    "traceparent": f"00-{trace_id}-{caller}-01",
                },
            )
            assert r.status_code == 201, r.text

        async def deposit_spans() -> dict[str, Any] | None:
            got = {s.name: (svc, s) for svc, s in receiver.spans() if s.trace_id.hex() == trace_id}
            return got if len(got) >= 3 else None

        spans = await wait_for(deposit_spans, timeout=15)
        assert spans, [s.name for _, s in receiver.spans()]
        service, server = spans[f"POST {DEPOSITS_ROUTE}"]
        assert service == "bank-api" and server.parent_span_id.hex() == caller
        # A customer's deposit is a development top-up (issue #17: cash is a teller's).
        _, command = spans["command top_up_account"]
        assert command.parent_span_id == server.span_id
        if "event_store.append" in spans:  # appended alone, inside the command
            assert spans["event_store.append"][1].parent_span_id == command.span_id
        else:  # appended by the group commit, in its own task: under the request span
            _, group = spans["event_store.append (group commit)"]
            assert group.parent_span_id == server.span_id
        # The span id downstream processes take as their parent (see tracing.py).
        assert server.span_id.hex() == trace_id[16:]
    finally:
        receiver.server.shutdown()
