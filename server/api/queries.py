"""Read endpoints served from the read models: balance, transaction history
(cursor pagination), the newest postings over all of a customer's accounts, one
transaction and daily analytics. Same auth rules as the
rest of the API: a customer sees only their own accounts (another's is a 404).

The read-model tables and the query cache are built once per process by the
composition root (server/api/bootstrap.py).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from litestar import Controller, get
from litestar.params import Parameter

from server.api.account_ids import resolve_account
from server.api.body import (
    EARLIEST,
    FIRST_DAY,
    LAST_DAY,
    LATEST,
    BadRequestError,
    parse_uuid,
    within_calendar,
)
from server.application.context import Actor, AppContext
from server.application.errors import TransactionNotFoundError
from server.queries import accounts as account_queries
from server.queries import history
from server.readmodel.cache import QueryCache
from shared.api import (
    DESCRIPTION_MAX_LENGTH,
    AnalyticsResponse,
    BalanceResponse,
    RecentTransactions,
    TransactionPage,
    TransactionResponse,
)

KINDS = ("deposit", "withdrawal", "transfer_out", "transfer_in")
MAX_PAGE = 200
RECENT_DEFAULT = 10  # postings in a customer's recent activity unless asked for more
MAX_ANALYTICS_DAYS = 366


BALANCE_PATH = "/{account_id:str}/balance"  # also answered by server/api/fast_lane.py


def min_version_param(value: int | None) -> int | None:
    if value is not None and value < 0:
        raise BadRequestError("min_version must be 0 or more.", "invalid_min_version")
    return value


def _parse_instant(value: str | None, name: str, *, end_of_day: bool) -> datetime | None:
    """An ISO 8601 date or date-time; a bare date means the start of that UTC
    day (``from``) or the start of the next one (``to``: the whole day counts).
    Beyond FIRST_DAY and LAST_DAY no transaction can be: a bound out there is moved to
    the edge, and one that would then bound nothing is none (``from=0001-01-01`` is
    "from the beginning", ``to=9999-12-31`` "until now")."""
    if not value:
        return None
    try:
        if len(value) == 10:
            d = min(max(date.fromisoformat(value), FIRST_DAY), LAST_DAY)
            dt = datetime.combine(d + timedelta(days=1 if end_of_day else 0), time(), UTC)
        else:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequestError(
            f"{name} must be an ISO 8601 date or date-time, got {value[:40]!r}.", "invalid_date"
        ) from None
    dt = within_calendar(dt if dt.tzinfo else dt.replace(tzinfo=UTC))
    return None if dt == (LATEST if end_of_day else EARLIEST) else dt


def _parse_day(value: str | None, name: str, default: date) -> date:
    """A day of the analytics, which answers every day asked for: one the bank could
    have had (FIRST_DAY to LAST_DAY)."""
    if value is None:
        return default
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise BadRequestError(f"{name} must be a date like 2026-01-31.", "invalid_date") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise BadRequestError(
            f"{name} must be between {FIRST_DAY} and {LAST_DAY}, got {value}.", "invalid_date"
        )
    return day


def page_size(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE:
        raise BadRequestError(f"limit must be between 1 and {MAX_PAGE}.", "invalid_limit")
    return limit


class RecentActivityController(Controller):
    path = "/api/v1/transactions"
    tags = ["accounts"]

    @get("/", operation_id="listRecentTransactions")
    async def recent(
        self,
        ctx: AppContext,
        actor: Actor,
        limit: int = Parameter(default=RECENT_DEFAULT, description=f"1..{MAX_PAGE}"),
    ) -> RecentTransactions:
        """The newest postings over all of the caller's accounts (closed ones too), newest
        first, ``limit`` of them (1 to 200, default 10): one request for a home screen's
        recent activity. Not paged: ``GET /api/v1/accounts/{id}/transactions`` pages
        through one account's history. Staff hold no accounts: an empty list."""
        items = await history.recent_transactions(ctx.pool, actor.user_id, page_size(limit))
        return RecentTransactions(items=items)


class QueryController(Controller):
    path = "/api/v1/accounts"
    tags = ["accounts"]

    @get(BALANCE_PATH, operation_id="getBalance")
    async def balance(
        self,
        ctx: AppContext,
        actor: Actor,
        query_cache: QueryCache,
        account_id: str,
        min_version: int | None = Parameter(
            default=None, description="Stream version the client already saw (read-your-writes)"
        ),
    ) -> BalanceResponse:
        """The account's ledger ``balance``, ``available_balance`` (less pending holds: what can be
        spent now) and ``version``, for its owner and staff. Never older than its latest write;
        ``min_version`` (a ``version`` a command answered) reads that version or newer, quicker."""
        return await account_queries.get_balance(
            ctx,
            actor,
            await resolve_account(ctx, account_id),
            cache=query_cache,
            min_version=min_version_param(min_version),
        )

    @get("/{account_id:str}/transactions", operation_id="listTransactions")
    async def transactions(
        self,
        ctx: AppContext,
        actor: Actor,
        query_cache: QueryCache,
        account_id: str,
        limit: int = Parameter(default=50, description=f"1..{MAX_PAGE}"),
        cursor: str | None = Parameter(default=None, max_length=200),
        since: str | None = Parameter(query="from", default=None, description="inclusive"),
        until: str | None = Parameter(
            query="to", default=None, description="exclusive; a date: whole day"
        ),
        kind: str | None = Parameter(default=None, description="|".join(KINDS)),
        q: str | None = Parameter(
            default=None,
            description="only postings whose description contains this text (any case)",
        ),
    ) -> TransactionPage:
        """The account's postings, newest first, ``limit`` (1 to 200, default 50) a page; send
        ``next_cursor`` as ``cursor`` for the next. Filters: ``from`` (inclusive), ``to``
        (exclusive; a date is that whole day), ``kind``, and ``q``: text in the description, any
        case (at most 140 characters, else 400 ``invalid_search``)."""
        account = await resolve_account(ctx, account_id)
        page_size(limit)
        if kind is not None and kind not in KINDS:
            raise BadRequestError(f"kind must be one of {', '.join(KINDS)}.", "invalid_kind")
        if q is not None and len(q) > DESCRIPTION_MAX_LENGTH:
            raise BadRequestError(
                f"q (the text to search for) is at most {DESCRIPTION_MAX_LENGTH} characters,"
                " as a description is.",
                "invalid_search",
            )
        flt = history.HistoryFilter(
            since=_parse_instant(since, "from", end_of_day=False),
            until=_parse_instant(until, "to", end_of_day=True),
            kind=kind,
            text=(q or "").strip() or None,
        )
        if flt.since is not None and flt.until is not None and flt.since >= flt.until:
            raise BadRequestError(
                "from must be before to (to is exclusive; a date means that whole day).",
                "invalid_date_range",
            )
        # Only the access check: any version of the account will do.
        await account_queries.get_account(ctx, actor, account, cache=query_cache, min_version=0)
        try:
            return await history.transactions_page(ctx.pool, account, limit, cursor, flt)
        except history.InvalidCursorError as exc:
            raise BadRequestError(str(exc), "invalid_cursor") from None

    @get("/{account_id:str}/transactions/{transaction_id:str}", operation_id="getTransaction")
    async def transaction(
        self,
        ctx: AppContext,
        actor: Actor,
        query_cache: QueryCache,
        account_id: str,
        transaction_id: str,
    ) -> TransactionResponse:
        """One posting of the account: a deposit's or a withdrawal's ``transaction_id``,
        a transfer's ``transfer_id`` (each side of a transfer on its own account). As
        soon as the command that made it was answered; 404 ``transaction_not_found`` if
        the account has none by that id."""
        account = await resolve_account(ctx, account_id)
        wanted = parse_uuid(transaction_id, "transaction_id")
        await account_queries.get_account(ctx, actor, account, cache=query_cache, min_version=0)
        found = await history.get_transaction(ctx.pool, account, wanted)
        if found is None:
            raise TransactionNotFoundError("This account has no transaction with that id.")
        return found

    @get("/{account_id:str}/analytics", operation_id="getAnalytics")
    async def analytics(
        self,
        ctx: AppContext,
        actor: Actor,
        query_cache: QueryCache,
        account_id: str,
        since: str | None = Parameter(query="from", default=None, description="first day (UTC)"),
        until: str | None = Parameter(query="to", default=None, description="last day, inclusive"),
    ) -> AnalyticsResponse:
        """The account's days from ``from`` to ``to`` (UTC dates, inclusive; ``to`` defaults to
        today, ``from`` to 29 days before it): money in, money out (minor units), postings and
        closing balance, with totals. At most 366 days, else 400 ``invalid_date_range``."""
        account_uuid = await resolve_account(ctx, account_id)
        last = _parse_day(until, "to", datetime.now(UTC).date())
        first = _parse_day(since, "from", max(last - timedelta(days=29), FIRST_DAY))
        if first > last:
            raise BadRequestError("from must not be after to.", "invalid_date_range")
        if (last - first).days >= MAX_ANALYTICS_DAYS:
            raise BadRequestError(
                f"At most {MAX_ANALYTICS_DAYS} days per request.", "invalid_date_range"
            )
        account = await account_queries.get_account(
            ctx, actor, account_uuid, cache=query_cache, min_version=0
        )
        return await history.analytics(account_uuid, account.currency, first, last)
