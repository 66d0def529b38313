"""One settings object per process, read from the environment (``BANK_`` prefix).

Defaults point at the local embedded stack (see ``infra/local``), whose ports and
data folder are fixed per checkout. A process builds ``Settings.from_env()`` once
in its composition root and passes it down; nothing reads the environment later.

Settings are grouped by concern (``settings.database``, ``settings.redis``,
``settings.kafka``, ``settings.http``, ``settings.security``, ``settings.commands``,
``settings.pipeline``, ``settings.notifications``, ``settings.observability``), one
frozen Struct each. Every
field has one flat name, which is also its environment variable without the
``BANK_`` prefix (``kafka.bootstrap`` is ``BANK_KAFKA_BOOTSTRAP``) and still works
as a flat attribute (``settings.kafka_bootstrap``) for code written before the
split. The flat ``database_url``, ``admin_database_url`` and ``redis_url`` are the
effective connection URLs (TLS parameters from settings applied).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import msgspec
from msgspec import field

from shared.topics import DEFAULT_TOPIC_PARTITIONS

REPO_ROOT = Path(__file__).resolve().parent.parent

POSTGRES_SSLMODES = ("", "disable", "allow", "prefer", "require", "verify-ca", "verify-full")


def _with_query(url: str, params: dict[str, str]) -> str:
    """``url`` with ``params`` added to its query string, unless already there."""
    if not params:
        return url
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    for key, value in params.items():
        query.setdefault(key, value)
    return urlunsplit(parts._replace(query=urlencode(query)))


class DatabaseSettings(msgspec.Struct, kw_only=True, frozen=True):
    # The application's role (no DDL, no UPDATE/DELETE on audit records) and the
    # owner role that runs migrations and owns the replication slot (CDC).
    url: str = field(default="postgresql://bank_app@127.0.0.1:54329/bank", name="database_url")
    admin_url: str = field(
        default="postgresql://bank@127.0.0.1:54329/bank", name="admin_database_url"
    )
    pool_min: int = field(default=2, name="db_pool_min")
    pool_max: int = field(default=20, name="db_pool_max")
    # TLS to PostgreSQL (libpq names, understood by asyncpg and psycopg): added to
    # both URLs unless a URL sets its own. Empty = the URL's (libpq default: prefer).
    sslmode: str = field(default="", name="database_sslmode")
    sslrootcert: str = field(default="", name="database_sslrootcert")

    def _tls(self) -> dict[str, str]:
        params = {"sslmode": self.sslmode} if self.sslmode else {}
        if self.sslrootcert:
            params["sslrootcert"] = self.sslrootcert
        return params

    def dsn(self) -> str:
        """The application role's URL with the TLS settings applied."""
        return _with_query(self.url, self._tls())

    def admin_dsn(self) -> str:
        """The owner role's URL with the TLS settings applied."""
        return _with_query(self.admin_url, self._tls())


class RedisSettings(msgspec.Struct, kw_only=True, frozen=True):
    # rediss://… for TLS (ElastiCache in-transit encryption).
    url: str = field(default="redis://127.0.0.1:63799/0", name="redis_url")
    # CA bundle that signed the server's certificate (rediss:// only); empty = system CAs.
    ca_file: str = field(default="", name="redis_ca_file")

    def dsn(self) -> str:
        """The URL redis-py's ``from_url`` takes, with the CA file for ``rediss://``."""
        if self.ca_file and self.url.startswith("rediss://"):
            return _with_query(self.url, {"ssl_ca_certs": self.ca_file})
        return self.url


class KafkaSettings(msgspec.Struct, kw_only=True, frozen=True):
    """How every Kafka client connects (built by ``runtime.kafka``)."""

    bootstrap: str = field(default="127.0.0.1:19092", name="kafka_bootstrap")
    # PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL (MSK with SCRAM: SASL_SSL).
    security_protocol: str = field(default="PLAINTEXT", name="kafka_security_protocol")
    # PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (SASL_* protocols only).
    sasl_mechanism: str = field(default="", name="kafka_sasl_mechanism")
    sasl_username: str = field(default="", name="kafka_sasl_username")
    sasl_password: str = field(default="", name="kafka_sasl_password")
    # CA bundle that signed the brokers' certificates; empty = the system CAs.
    ca_file: str = field(default="", name="kafka_ca_file")
    # Topics the connector creates: replication factor (3 in production).
    replication_factor: int = field(default=1, name="replication_factor")
    # ... and the partitions of each keyed topic (shared/topics.py). The embedded
    # stack's broker pays per stored batch per partition on every fetch: it runs 1
    # (docs/adr/0311-one-partition-on-the-embedded-broker.md).
    topic_partitions: Annotated[int, msgspec.Meta(ge=1)] = field(
        default=DEFAULT_TOPIC_PARTITIONS, name="kafka_topic_partitions"
    )
    # A broker that keeps every record in memory and has no retention (the embedded
    # one) is bounded by the CDC connector: once it has sent this many batches to one
    # partition, or this many MiB in all, since the topics were created, it recycles
    # them after every platform consumer group has read them (docs/adr/0320).
    # 0 = never: a real Kafka deletes by retention.
    recycle_after_batches: Annotated[int, msgspec.Meta(ge=0)] = field(
        default=0, name="kafka_recycle_after_batches"
    )
    recycle_after_mib: Annotated[int, msgspec.Meta(ge=0)] = field(
        default=0, name="kafka_recycle_after_mib"
    )
    # A broker that keeps records in memory only forgets everything it acked when it
    # restarts (the embedded one). The CDC connector then confirms a WAL position to
    # PostgreSQL only once every platform consumer group has read past it, so what a
    # group had not read yet is still in the slot and sent again (cdc/readers_hold.py).
    memory_only: bool = field(default=False, name="kafka_memory_only")


class HttpSettings(msgspec.Struct, kw_only=True, frozen=True):
    api_host: str = field(default="127.0.0.1", name="api_host")
    api_port: int = field(default=8000, name="api_port")
    # API worker processes of `python -m server.api` (0 = one per CPU core); see
    # docs/adr/0300-a-cheap-request.md for the measurement behind the default.
    api_workers: int = field(default=1, name="api_workers")
    # An API worker whose event loop has not come round for this long ends itself and
    # is started again (runtime/loop_watchdog.py, docs/adr/0714). 0 = not watched (e.g.
    # while an app in a test process sits at a debugger's breakpoint).
    api_loop_stall_seconds: Annotated[float, msgspec.Meta(ge=0)] = field(
        default=10.0, name="api_loop_stall_seconds"
    )
    # GraphQL introspection (and the GraphiQL page) at /graphql: on for development;
    # production may turn it off (BANK_GRAPHQL_INTROSPECTION=false).
    graphql_introspection: bool = field(default=True, name="graphql_introspection")
    # HTTPS for `python -m server.api`: PEM certificate chain and key. Empty = plain
    # HTTP (e.g. TLS ends at the ingress). `./task up -- --tls` sets a generated pair.
    tls_certfile: str = field(default="", name="tls_certfile")
    tls_keyfile: str = field(default="", name="tls_keyfile")
    client_port: int = field(default=8550, name="client_port")
    # Browser origins allowed by CORS (comma-separated); empty = the local web client.
    cors_origins: str = field(default="", name="cors_origins")
    # Where the CDC connector, the projection worker, the notification consumer and the
    # scheduler serve /metrics and /health (0.0.0.0 in containers so Prometheus and the
    # probes reach it).
    metrics_host: str = field(default="127.0.0.1", name="metrics_host")
    cdc_metrics_port: int = field(default=9101, name="cdc_metrics_port")
    projections_metrics_port: int = field(default=9102, name="projections_metrics_port")
    notifications_metrics_port: int = field(default=9103, name="notifications_metrics_port")
    scheduler_metrics_port: int = field(default=9104, name="scheduler_metrics_port")


class SecuritySettings(msgspec.Struct, kw_only=True, frozen=True):
    # Auth. The signing key is read from jwt_secret, or else from a dev key file
    # that the embedded stack generates under data_dir (never committed).
    jwt_secret: str = field(default="", name="jwt_secret")
    # Keys that seal what the bank keeps secret for its customers (two-step sign-in),
    # comma-separated, newest first: the first seals, every one opens, and the signing
    # key opens too (what was sealed before these were set). Rotating the signing key:
    # list a new key of their own, then the old signing key, or the customers' two-step
    # secrets stop opening (docs/adr/0903). Empty: the signing key seals.
    sealing_keys: str = field(default="", name="sealing_keys")
    access_token_ttl_seconds: int = field(default=900, name="access_token_ttl_seconds")
    refresh_token_ttl_seconds: int = field(default=30 * 24 * 3600, name="refresh_token_ttl_seconds")
    # How long an API process trusts "this session is still active" before asking Redis again.
    session_check_cache_seconds: float = field(default=1.0, name="session_check_cache_seconds")
    # The first admin, created at API start when missing. An empty password means a
    # dev password generated under data_dir/secrets (`./task up` prints it once).
    bootstrap_admin_email: str = field(default="admin@bank.local", name="bootstrap_admin_email")
    bootstrap_admin_password: str = field(default="", name="bootstrap_admin_password")
    # Abuse resistance. Sign-in: failures per account and per client IP within the
    # window lock further attempts out (429 + Retry-After) for the lockout time.
    login_max_failures_per_account: int = field(default=5, name="login_max_failures_per_account")
    login_max_failures_per_ip: int = field(default=50, name="login_max_failures_per_ip")
    login_failure_window_seconds: int = field(default=900, name="login_failure_window_seconds")
    login_lockout_seconds: int = field(default=900, name="login_lockout_seconds")
    # Money-moving requests per user: a token bucket (sustained rate, burst size).
    money_rate_per_second: float = field(default=100.0, name="money_rate_per_second")
    money_rate_burst: int = field(default=500, name="money_rate_burst")


class CommandSettings(msgspec.Struct, kw_only=True, frozen=True):
    # Business limits (minor units).
    max_transaction_amount: int = field(default=1_000_000_00, name="max_transaction_amount")
    # Where money comes from (issue #17): a customer's top-up of their own account
    # from an outside source exists only in development (the local and test stacks
    # turn it on; production leaves it off). Per customer per UTC day, in minor
    # units: generous (1,000,000,000.00) because tests and the bench drive many
    # deposits; tellers' cash deposits are not capped by it.
    dev_top_ups: bool = field(default=False, name="dev_top_ups")
    dev_top_up_daily_cap: int = field(default=1_000_000_000_00, name="dev_top_up_daily_cap")
    # Outgoing limits a new account starts with (staff change them per account):
    # per payment, and per UTC day over withdrawals and transfers out. Generous by
    # default (tests and the bench move a lot); production sets its own (Helm values).
    default_per_transaction_limit: int = field(
        default=1_000_000_00, name="default_per_transaction_limit"
    )
    default_daily_outgoing_limit: int = field(
        default=1_000_000_000_00, name="default_daily_outgoing_limit"
    )
    # Accounts one customer may hold that are not closed (OWASP API4: opening accounts
    # without end would grow the store without end). 0: no cap (the bench opens
    # thousands per customer).
    max_open_accounts_per_customer: Annotated[int, msgspec.Meta(ge=0)] = field(
        default=20, name="max_open_accounts_per_customer"
    )
    # Holds (issue #17, two-phase transfers): a pending hold expires after this many
    # seconds unless the request asks for another timeout, at most the maximum (card
    # authorisations commonly lapse after 7 days; pending transfers up to 30).
    hold_default_timeout_seconds: int = field(
        default=7 * 24 * 3600, name="hold_default_timeout_seconds"
    )
    hold_max_timeout_seconds: int = field(default=30 * 24 * 3600, name="hold_max_timeout_seconds")
    # Optimistic concurrency: how many times a command is re-decided on fresh state.
    command_retries: int = field(default=16, name="command_retries")
    # Group commit (server/application/group_commit.py): commands arriving while a
    # group is being written wait up to the window (or until the group is full) and
    # are decided and appended together in one transaction.
    group_commit: bool = field(default=True, name="group_commit")
    group_commit_window_ms: float = field(default=2.0, name="group_commit_window_ms")
    group_commit_max: int = field(default=256, name="group_commit_max")
    # How many groups are written at once (each holds a pool connection meanwhile).
    group_commit_in_flight: Annotated[int, msgspec.Meta(ge=1)] = field(
        default=2, name="group_commit_in_flight"
    )
    # Maker-checker (server/application/approvals.py): the audit actions that one staff
    # member requests and a different one approves (comma-separated). ``deposit_cash``
    # means a cash deposit above the threshold below; ``set_account_limits`` means a
    # change that raises a limit (lowering one takes effect at once); ``reset_two_step``
    # turning off a customer's two-step sign-in (the usual target of a caller who claims
    # to be a customer who lost their phone).
    approval_required: str = field(
        default="unfreeze_account,change_role,deposit_cash,set_account_limits,reset_two_step",
        name="approval_required",
    )
    # A teller's cash deposit of more than this (minor units) waits for a second staff
    # member when ``deposit_cash`` is in approval_required; up to it, it is immediate.
    cash_deposit_approval_threshold: int = field(
        default=10_000_00, name="cash_deposit_approval_threshold"
    )


class NotificationSettings(msgspec.Struct, kw_only=True, frozen=True):
    # Notifications (server/notifications): a withdrawal of at least this many minor
    # units notifies its owner; the push provider ("log" in development; see
    # server/notifications/README.md for FCM, APNs and Web Push).
    large_withdrawal: int = field(default=1_000_00, name="notifications_large_withdrawal")
    push_provider: str = field(default="log", name="notifications_push_provider")
    # Email the bank sends (a code to reset a forgotten password): "file" writes each
    # message to data_dir/mail/ as an .eml file (development; this machine reaches no
    # mail server), the only provider this build has (server/adapters/mail.py).
    mail_provider: str = field(default="file", name="mail_provider")
    mail_from: str = field(default="Bank <no-reply@bank.local>", name="mail_from")


class PipelineSettings(msgspec.Struct, kw_only=True, frozen=True):
    # Progress, not only liveness: a pipeline process (CDC connector, projection
    # worker, notification consumer; the scheduler adds its interval between ticks)
    # whose last progress is older than this while it has work is "stalled":
    # its GET /health (on its metrics port) answers 503 and the supervisor restarts it.
    stall_seconds: float = field(default=30.0, name="pipeline_stall_seconds")
    cdc_slot: str = field(default="bank_cdc", name="cdc_slot")
    cdc_publication: str = field(default="bank_cdc_pub", name="cdc_publication")


class ObservabilitySettings(msgspec.Struct, kw_only=True, frozen=True):
    # JSON log level; OTLP/HTTP endpoint for traces (e.g. Jaeger's
    # http://127.0.0.1:4318). Empty = no export (the standard
    # OTEL_EXPORTER_OTLP_ENDPOINT is honoured too).
    log_level: str = field(default="INFO", name="log_level")
    otel_exporter_otlp_endpoint: str = field(default="", name="otel_exporter_otlp_endpoint")


class LocalSettings(msgspec.Struct, kw_only=True, frozen=True):
    # Where the embedded stack keeps data, logs and dev secrets.
    data_dir: str = field(default=str(REPO_ROOT / ".data"), name="data_dir")


_CONCERNS: dict[str, type[msgspec.Struct]] = {
    "database": DatabaseSettings,
    "redis": RedisSettings,
    "kafka": KafkaSettings,
    "http": HttpSettings,
    "security": SecuritySettings,
    "commands": CommandSettings,
    "pipeline": PipelineSettings,
    "notifications": NotificationSettings,
    "observability": ObservabilitySettings,
    "local": LocalSettings,
}


def _flat_index() -> dict[str, tuple[str, str]]:
    """flat name -> (concern, attribute)."""
    index: dict[str, tuple[str, str]] = {}
    for concern, cls in _CONCERNS.items():
        for f in msgspec.structs.fields(cls):
            assert f.encode_name not in index, f"two settings named {f.encode_name}"
            index[f.encode_name] = (concern, f.name)
    return index


_FLAT = _flat_index()
# Flat names whose value is the effective URL (TLS parameters applied).
_EFFECTIVE_URLS = {
    "database_url": lambda s: s.database.dsn(),
    "admin_database_url": lambda s: s.database.admin_dsn(),
    "redis_url": lambda s: s.redis.dsn(),
}


class Settings:
    """Every setting of a process, by concern; flat names still work.

    ``Settings(api_port=8001)`` and ``Settings.from_env()`` take flat names.
    """

    database: DatabaseSettings
    redis: RedisSettings
    kafka: KafkaSettings
    http: HttpSettings
    security: SecuritySettings
    commands: CommandSettings
    pipeline: PipelineSettings
    notifications: NotificationSettings
    observability: ObservabilitySettings
    local: LocalSettings

    concerns: ClassVar[tuple[str, ...]] = tuple(_CONCERNS)

    def __init__(self, **flat: object) -> None:
        unknown = sorted(set(flat) - set(_FLAT))
        if unknown:
            raise TypeError(f"unknown settings: {', '.join(unknown)}")
        grouped: dict[str, dict[str, object]] = {c: {} for c in _CONCERNS}
        for name, value in flat.items():
            grouped[_FLAT[name][0]][name] = value
        for concern, cls in _CONCERNS.items():
            try:
                value = msgspec.convert(grouped[concern], cls, strict=False)
            except msgspec.ValidationError as exc:
                raise ValueError(f"settings ({concern}): {exc}") from None
            object.__setattr__(self, concern, value)
        check(self)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: object) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for name in _FLAT:
            raw = env.get("BANK_" + name.upper())
            if raw is not None:
                values[name] = raw
        if "BANK_DATABASE_URL" in env and "BANK_ADMIN_DATABASE_URL" not in env:
            # One external database URL given: it serves both roles.
            values["admin_database_url"] = env["BANK_DATABASE_URL"]
        values.update(overrides)
        return cls(**values)

    @staticmethod
    def env_names() -> list[str]:
        """Every ``BANK_*`` variable that Settings reads."""
        return ["BANK_" + name.upper() for name in _FLAT]

    def flat(self) -> dict[str, Any]:
        """Every setting by its flat name (raw values: URLs as configured)."""
        return {
            name: getattr(getattr(self, concern), attr) for name, (concern, attr) in _FLAT.items()
        }

    def replace(self, **flat: object) -> Settings:
        return Settings(**{**self.flat(), **flat})

    def __getattr__(self, name: str) -> Any:
        # Only called for names not found normally: the flat names.
        if name.startswith("__"):
            raise AttributeError(name)
        effective = _EFFECTIVE_URLS.get(name)
        if effective is not None:
            return effective(self)
        try:
            concern, attr = _FLAT[name]
        except KeyError:
            raise AttributeError(f"Settings has no setting {name!r}") from None
        return getattr(getattr(self, concern), attr)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Settings are frozen; use .replace(...)")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Settings) and self.flat() == other.flat()

    def __hash__(self) -> int:
        return hash(tuple(self.flat().items()))

    def __repr__(self) -> str:
        return "Settings(" + ", ".join(self.concerns) + ")"  # no secrets in logs

    def __reduce__(self) -> tuple[Any, ...]:
        return (_from_flat, (self.flat(),))

    def signing_key(self) -> str:
        if self.security.jwt_secret:
            return self.security.jwt_secret
        path = Path(self.local.data_dir) / "secrets" / "jwt.key"
        if not path.exists():
            import secrets

            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(secrets.token_urlsafe(48))
            tmp.chmod(0o600)
            os.replace(tmp, path)
        return path.read_text().strip()

    def sealing_keys(self) -> tuple[str, ...]:
        """The keys that open sealed secrets, the one that seals first."""
        listed = [k.strip() for k in self.security.sealing_keys.split(",") if k.strip()]
        return tuple(dict.fromkeys([*listed, self.signing_key()]))


def _from_flat(flat: dict[str, Any]) -> Settings:
    return Settings(**flat)


class SettingsError(ValueError):
    """A combination of settings that cannot work, said at start-up."""


def check(settings: Settings) -> None:
    if settings.database.sslmode not in POSTGRES_SSLMODES:
        raise SettingsError(
            f"BANK_DATABASE_SSLMODE={settings.database.sslmode!r}: "
            f"use one of {', '.join(m for m in POSTGRES_SSLMODES if m)}"
        )
    if settings.redis.ca_file and not settings.redis.url.startswith("rediss://"):
        raise SettingsError("BANK_REDIS_CA_FILE is set but BANK_REDIS_URL is not rediss://")
    # The Kafka settings are checked where a client is built (runtime/kafka.py), at
    # the start of each process that has one: the API reads the same ConfigMap
    # (SASL_SSL) without the Kafka credentials it never uses.
