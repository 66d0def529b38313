"""How the supervisor reads a pipeline process's GET /health (a real HTTP server on
loopback plays the process: ok, stalled, no endpoint yet, frozen)."""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from infra.local import health
from infra.local.ports import free_port
from infra.local.tls import ensure_self_signed


class _Process(BaseHTTPRequestHandler):
    answer: tuple[int, bytes] = (404, b"")
    freeze = threading.Event()

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        if self.freeze.is_set():
            time.sleep(3)
        status, body = self.answer
        try:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except BrokenPipeError:
            pass  # the prober gave up first, as it should with a frozen process

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def process() -> Iterator[tuple[int, type[_Process]]]:
    handler = type("Handler", (_Process,), {"freeze": threading.Event()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1], handler
    finally:
        handler.freeze.clear()
        server.shutdown()
        server.server_close()


def _doc(status: str, **extra: object) -> bytes:
    return json.dumps(
        {
            "process": "cdc",
            "status": status,
            "last_progress_age_seconds": 0.4,
            "stall_threshold_seconds": 30.0,
            **extra,
        }
    ).encode()


def test_a_progressing_connector_is_ok_and_its_lag_is_shown(process) -> None:  # type: ignore[no-untyped-def]
    port, handler = process
    handler.answer = (200, _doc("ok", slot_lag_bytes=2048, heartbeat_age_seconds=1.5))
    h = health.probe(port, timeout=1.0)
    assert h.state == health.OK and not h.stuck
    assert h.summary() == "health: ok, progress 0.4s ago, slot lag 2.0 kB, heartbeat 1.5s ago"


def test_a_stalled_worker_answers_503_and_is_stuck(process) -> None:  # type: ignore[no-untyped-def]
    port, handler = process
    lag = {"account-events/0": 7, "account-events/1": 5}
    handler.answer = (503, _doc("stalled", lag=lag, failed_partitions=["account-events/1"]))
    h = health.probe(port, timeout=1.0)
    assert h.state == health.STALLED and h.stuck
    assert "lag 12 records" in h.summary()
    assert "failed partitions" in h.summary()


def test_a_port_without_the_endpoint_gives_no_progress_info(process) -> None:  # type: ignore[no-untyped-def]
    port, handler = process
    handler.answer = (404, b"not found")
    assert health.probe(port, timeout=1.0).state == health.NO_INFO
    handler.answer = (200, b"# HELP bank_cdc_records ...\n")  # Prometheus text on every path
    h = health.probe(port, timeout=1.0)
    assert h.state == health.NO_INFO and not h.stuck


def test_a_frozen_process_does_not_answer_within_the_deadline(process) -> None:  # type: ignore[no-untyped-def]
    port, handler = process
    handler.answer = (200, _doc("ok"))
    handler.freeze.set()
    t0 = time.monotonic()
    h = health.probe(port, timeout=0.5)
    assert h.state == health.NO_ANSWER and h.stuck
    assert time.monotonic() - t0 < 2.0


def test_a_closed_port_does_not_answer() -> None:
    assert health.probe(free_port(), timeout=0.5).state == health.NO_ANSWER


@pytest.mark.parametrize(
    "lag, total",
    [({"t/0": 3, "t/1": 4}, 7), ([{"lag": 2}, {"lag": 5}], 7), (9, 9), ({"t": {"0": 1}}, 1)],
)
def test_lag_in_any_reasonable_shape_is_summed(lag: object, total: int) -> None:
    assert health.total_lag(lag) == total


def test_a_process_served_over_https_is_asked_over_https() -> None:
    # The supervisor reads a process's base URL, `./task status` the stack's API URL.
    assert health.scheme_of("https://127.0.0.1:8000") == "https"
    assert health.scheme_of("http://127.0.0.1:8000") == "http"
    assert health.scheme_of(None) == "http"  # a server, a metrics port


def test_the_apis_liveness_path_over_the_stacks_self_signed_tls(
    process,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    """The API (health.LIVENESS) answers its own path, over https when `./task up --
    --tls` runs it: the supervisor must read that as an answer, not as "no answer"."""
    port, handler = process
    handler.answer = (200, json.dumps({"status": "ok", "checks": {}}).encode())
    key, cert = ensure_self_signed(tmp_path)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        https_port = server.server_address[1]
        ask = health.LIVENESS["api"]
        got = ask(https_port, 2.0, "https")
        assert got.state == health.OK and not got.stuck, got
        plain = ask(https_port, 2.0, "http")  # http to a TLS port
        assert plain.state == health.NO_ANSWER, plain
        assert ask(port, 2.0, "http").state == health.OK
    finally:
        server.shutdown()
        server.server_close()
