"""One settings object per process, read from the environment (``BANK_`` prefix).

Defaults point at the local embedded stack (see ``infra/local``), whose ports and
data folder are fixed per checkout. A process builds ``Settings.from_env()`` once
in its composition root and passes it down; nothing reads the environment later.
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(msgspec.Struct, kw_only=True, frozen=True):
    # The application's role (no DDL, no UPDATE/DELETE on audit records) and the
    # owner role that runs migrations and owns the replication slot (CDC).
    database_url: str = "postgresql://bank_app@127.0.0.1:54329/bank"
    admin_database_url: str = "postgresql://bank@127.0.0.1:54329/bank"
    redis_url: str = "redis://127.0.0.1:63799/0"
    kafka_bootstrap: str = "127.0.0.1:19092"
    data_dir: str = str(REPO_ROOT / ".data")

    # GraphQL introspection (and the GraphiQL page) at /graphql: on for development;
    # production may turn it off (BANK_GRAPHQL_INTROSPECTION=false).
    graphql_introspection: bool = True

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    # HTTPS for `python -m server.api`: PEM certificate chain and key. Empty = plain
    # HTTP (e.g. TLS ends at the ingress). `./task up -- --tls` sets a generated pair.
    tls_certfile: str = ""
    tls_keyfile: str = ""
    client_port: int = 8550
    # Where the CDC connector and the projection worker serve /metrics
    # (0.0.0.0 in containers so Prometheus and the probes reach it).
    metrics_host: str = "127.0.0.1"
    cdc_metrics_port: int = 9101
    projections_metrics_port: int = 9102

    # Auth. The signing key is read from jwt_secret, or else from a dev key file
    # that the embedded stack generates under data_dir (never committed).
    jwt_secret: str = ""
    access_token_ttl_seconds: int = 900
    refresh_token_ttl_seconds: int = 30 * 24 * 3600
    # How long an API process trusts "this session is still active" before asking Redis again.
    session_check_cache_seconds: float = 1.0
    # The first admin, created at API start when missing. An empty password means a
    # dev password generated under data_dir/secrets (`./task up` prints it once).
    bootstrap_admin_email: str = "admin@bank.local"
    bootstrap_admin_password: str = ""

    # Abuse resistance. Sign-in: failures per account and per client IP within the
    # window lock further attempts out (429 + Retry-After) for the lockout time.
    login_max_failures_per_account: int = 5
    login_max_failures_per_ip: int = 50
    login_failure_window_seconds: int = 900
    login_lockout_seconds: int = 900
    # Money-moving requests per user: a token bucket (sustained rate, burst size).
    money_rate_per_second: float = 100.0
    money_rate_burst: int = 500
    # Browser origins allowed by CORS (comma-separated); empty = the local web client.
    cors_origins: str = ""

    # Business limits (minor units).
    max_transaction_amount: int = 1_000_000_00

    # Optimistic concurrency: how many times a command is re-decided on fresh state.
    command_retries: int = 16

    # Group commit (server/application/group_commit.py): commands arriving while a
    # group is being written wait up to the window (or until the group is full) and
    # are decided and appended together in one transaction.
    group_commit: bool = True
    group_commit_window_ms: float = 2.0
    group_commit_max: int = 256

    # Observability: JSON log level; OTLP/HTTP endpoint for traces (e.g. Jaeger's
    # http://127.0.0.1:4318). Empty = no export (the standard OTEL_EXPORTER_OTLP_ENDPOINT
    # is honoured too).
    log_level: str = "INFO"
    otel_exporter_otlp_endpoint: str = ""

    db_pool_min: int = 2
    db_pool_max: int = 20

    # Progress, not only liveness: a pipeline process (CDC connector, projection
    # worker) whose last progress is older than this while it has work is "stalled":
    # its GET /health (on its metrics port) answers 503 and the supervisor restarts it.
    pipeline_stall_seconds: float = 30.0

    # Notifications (server/notifications): a withdrawal of at least this many minor
    # units notifies its owner; the push provider ("log" in development; see
    # server/notifications/README.md for FCM, APNs and Web Push).
    notifications_large_withdrawal: int = 1_000_00
    notifications_push_provider: str = "log"

    # Kafka topics and partitioning.
    replication_factor: int = 1
    cdc_slot: str = "bank_cdc"
    cdc_publication: str = "bank_cdc_pub"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: object) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for field in msgspec.structs.fields(cls):
            raw = env.get("BANK_" + field.name.upper())
            if raw is not None:
                values[field.name] = raw
        if "BANK_DATABASE_URL" in env and "BANK_ADMIN_DATABASE_URL" not in env:
            # One external database URL given: it serves both roles.
            values["admin_database_url"] = env["BANK_DATABASE_URL"]
        values.update(overrides)
        return msgspec.convert(values, cls, strict=False)

    def signing_key(self) -> str:
        if self.jwt_secret:
            return self.jwt_secret
        path = Path(self.data_dir) / "secrets" / "jwt.key"
        if not path.exists():
            import secrets

            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(secrets.token_urlsafe(48))
            tmp.chmod(0o600)
            os.replace(tmp, path)
        return path.read_text().strip()
