"""The API's composition root: every concrete adapter of an API process, built once.

``Services`` is what controllers, guards and the auth middleware need; one is
built per process in the app's lifespan (``services_lifespan``) and reached
through Litestar's dependency injection (``server/api/deps.py``) or, where no
DI reaches (the auth middleware, the WebSocket), through ``services_of(app)``.

One PostgreSQL pool serves the command side and the Piccolo read-model tables
(the engine is bound to the same asyncpg pool); one Redis client (one connection
pool) serves sessions, sign-in lockouts, the rate limiter's leases, the query
cache, the health check and the pub/sub fan-out (a subscription takes its own
connection from that pool). Nothing connects before the lifespan starts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from litestar import Litestar
from litestar.datastructures import State
from litestar.security.jwt import OAuth2PasswordBearerAuth, Token
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from runtime.heap import settle_heap
from runtime.loop_watchdog import loop_watched
from runtime.settings import Settings
from server.adapters.account_repository import AccountRepository
from server.adapters.mail import mailer_from_settings
from server.adapters.postgres.pool import (
    ACQUIRE_TIMEOUT_SECONDS,
    CONNECT_TIMEOUT_SECONDS,
    STATEMENT_TIMEOUT_SECONDS,
    create_pool,
)
from server.adapters.rate_limits import FailureLock, LeasedTokenBucket
from server.adapters.redis_pool import WaitingConnectionPool
from server.adapters.sessions import SessionStore
from server.application.admin import ensure_bootstrap_admin
from server.application.context import Actor, AppContext
from server.application.sessions import SessionService
from server.readmodel.cache import QueryCache
from server.readmodel.tables import bind, make_engine

# A pooled connection idle for longer than this is PINGed before it is used again,
# so one that Redis closed (a restart) is replaced instead of failing a request.
REDIS_HEALTH_CHECK_SECONDS = 5
# Fail fast when Redis is down: the request answers 503 instead of hanging.
REDIS_CONNECT_TIMEOUT_SECONDS = 1.0
REDIS_SOCKET_TIMEOUT_SECONDS = 2.0
# After a command has timed out, Redis is not asked again for this long: requests get
# their 503 at once instead of each waiting out the timeout (server/adapters/redis_pool.py).
REDIS_COOL_OFF_SECONDS = 2.0
# Connections one API process opens to Redis at most (redis-py's default). A request
# that finds them all busy waits for one, as long as a command may take, before it is
# a 503 (server/adapters/redis_pool.py).
REDIS_MAX_CONNECTIONS = 100


class Services:
    """Everything an API process talks to, typed; built once per process.

    A plain class, not a dataclass: Litestar validates injected values with
    msgspec, which would walk a dataclass's fields on every request."""

    __slots__ = ("settings", "auth", "ctx", "redis", "sessions", "money_limit", "query_cache")

    def __init__(
        self,
        *,
        settings: Settings,
        auth: OAuth2PasswordBearerAuth[Actor, Token],
        ctx: AppContext,
        redis: Redis,
        sessions: SessionService,
        money_limit: LeasedTokenBucket,
        query_cache: QueryCache,
    ) -> None:
        self.settings = settings
        self.auth = auth
        self.ctx = ctx
        self.redis = redis
        self.sessions = sessions
        self.money_limit = money_limit
        self.query_cache = query_cache


def redis_client(settings: Settings, *, max_connections: int = REDIS_MAX_CONNECTIONS) -> Redis:
    """The process's one Redis client. A command that meets a broken connection
    (Redis restarted) is retried once on a fresh one; one that finds every pooled
    connection busy waits for one (at most the socket timeout); one that times out
    is not retried, and the next ones are refused at once for the cool-off; then the
    error reaches the edge as a 503 (server/api/errors.py)."""
    pool = WaitingConnectionPool.from_url(
        settings.redis_url,
        max_connections=max_connections,
        wait_seconds=REDIS_SOCKET_TIMEOUT_SECONDS,
        cool_off_seconds=REDIS_COOL_OFF_SECONDS,
        health_check_interval=REDIS_HEALTH_CHECK_SECONDS,
        socket_connect_timeout=REDIS_CONNECT_TIMEOUT_SECONDS,
        socket_timeout=REDIS_SOCKET_TIMEOUT_SECONDS,
        # Not on a timeout: the command may have run, and a frozen Redis would be
        # waited for twice (the breaker in WaitingConnectionPool answers meanwhile).
        retry=Retry(
            ExponentialBackoff(cap=0.1, base=0.02),
            retries=1,
            supported_errors=(RedisConnectionError,),
        ),
        retry_on_error=[RedisConnectionError],
    )
    return Redis.from_pool(pool)  # the client owns the pool and closes it


async def build_services(
    settings: Settings, redis: Redis, auth: OAuth2PasswordBearerAuth[Actor, Token]
) -> Services:
    pool = await create_pool(
        settings.database_url,
        min_size=settings.db_pool_min,
        max_size=settings.db_pool_max,
        timeout=CONNECT_TIMEOUT_SECONDS,
        command_timeout=STATEMENT_TIMEOUT_SECONDS,
        acquire_timeout=ACQUIRE_TIMEOUT_SECONDS,
    )
    # The read-model tables query through the same pool (Piccolo uses
    # ``engine.pool`` when it is set; it never opens one of its own here).
    engine = make_engine(settings.database_url)
    engine.pool = pool
    bind(engine)
    ctx = AppContext(settings=settings, pool=pool, accounts=AccountRepository())
    s = settings
    window, lockout = s.login_failure_window_seconds, s.login_lockout_seconds
    sessions = SessionService(
        ctx,
        SessionStore(redis, s.refresh_token_ttl_seconds),
        account_lock=FailureLock(
            redis, "login-account", s.login_max_failures_per_account, window, lockout
        ),
        ip_lock=FailureLock(redis, "login-ip", s.login_max_failures_per_ip, window, lockout),
        mailer=mailer_from_settings(settings),
    )
    return Services(
        settings=settings,
        auth=auth,
        ctx=ctx,
        redis=redis,
        sessions=sessions,
        money_limit=LeasedTokenBucket(redis, "money", s.money_rate_per_second, s.money_rate_burst),
        query_cache=QueryCache(redis),
    )


def services_lifespan(
    settings: Settings, redis: Redis, auth: OAuth2PasswordBearerAuth[Actor, Token]
) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    """The app's one lifespan: build the services, publish them on the app, close them."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        with loop_watched(settings.api_loop_stall_seconds):
            services = await build_services(settings, redis, auth)
            app.state.services = services
            try:
                await ensure_bootstrap_admin(services.ctx)
                settle_heap()
                yield
            finally:
                await redis.aclose()
                await services.ctx.pool.close()

    return lifespan


def services_of(app: Litestar) -> Services:
    """The process's services, for code that dependency injection does not reach."""
    return services_from_state(app.state)


def services_from_state(state: State) -> Services:
    services = state.get("services")
    if not isinstance(services, Services):
        raise RuntimeError("the API's services are not built yet (lifespan not started)")
    return services
