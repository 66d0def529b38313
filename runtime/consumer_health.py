"""A Kafka consumer's metrics port (the projection worker's, the notification
consumer's): ``GET /health`` (the "Pipeline health" contract: JSON, 503 when
stalled) and the Prometheus metrics on every other path. Served from a thread, so
it answers even when the event loop is stuck; a stopped process does not answer,
which the supervisor counts as stuck too (infra/local/supervisor.py)."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread

from prometheus_client import REGISTRY, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from runtime.consumer_progress import STALLED, Progress
from runtime.observability.pipeline import register_progress_gauges


def _handler(progress: Progress) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the http.server API)
            if self.path.split("?", 1)[0] == "/health":
                doc = progress.health()
                status = 503 if doc["status"] == STALLED else 200
                self._reply(status, "application/json", json.dumps(doc).encode())
            else:
                self._reply(200, CONTENT_TYPE_LATEST, generate_latest(REGISTRY))

        def _reply(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass  # probes every few seconds: not worth a log line each

    return Handler


def serve(progress: Progress, port: int, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    register_progress_gauges(progress.process, progress.age, lambda: progress.status() == STALLED)
    server = ThreadingHTTPServer((host, port), _handler(progress))
    server.daemon_threads = True
    Thread(target=server.serve_forever, name="metrics-http", daemon=True).start()
    return server
