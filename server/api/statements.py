"""GET /api/v1/accounts/{account_id}/statements/{month}?format=csv|pdf: the monthly
statement of one account (issue #17 item 7), as a download. Without ``format`` the
``Accept`` header chooses (``Accept: application/pdf`` is the PDF); else CSV.

``month`` is YYYY-MM in UTC; the current month gives a statement to date (marked so).
Owner or staff only: someone else's account is 404 like every account endpoint.
"""

from __future__ import annotations

from litestar import Controller, Request, Response, get
from litestar.params import Parameter

from server.api.account_ids import resolve_account
from server.api.body import BadRequestError
from server.application.context import Actor, AppContext
from server.statements import render_csv, render_pdf
from server.statements.builder import Statement
from server.statements.period import MONTH_PATTERN, InvalidMonthError, parse_month
from server.statements.query import get_statement

__all__ = ["FORMATS", "MONTH_PATTERN", "StatementController"]

FORMATS = ("csv", "pdf")
RENDERERS = {
    "csv": (render_csv.MEDIA_TYPE, render_csv.render_csv),
    "pdf": (render_pdf.MEDIA_TYPE, render_pdf.render_pdf),
}
# For an Accept header; the first, CSV, is the default.
FORMAT_BY_MEDIA_TYPE = {media_type: fmt for fmt, (media_type, _) in RENDERERS.items()}
# The 200 answer's media types, for the OpenAPI document (server/api/openapi.py).
OPENAPI_CONTENT = {
    "text/csv": {"schema": {"type": "string"}},
    "application/pdf": {"schema": {"type": "string", "format": "binary"}},
}


def _filename(statement: Statement, fmt: str) -> str:
    number = statement.account.account_number.replace(" ", "") or str(statement.account.account_id)
    return f"statement-{number}-{statement.period.label}.{fmt}"


def _negotiated(request: Request) -> str:
    """The format the client's ``Accept`` prefers of those we make; CSV when it names
    neither (a client that accepts anything, or only what we do not make)."""
    best = request.accept.best_match(list(FORMAT_BY_MEDIA_TYPE))
    return FORMAT_BY_MEDIA_TYPE[best] if best else FORMATS[0]


class StatementController(Controller):
    path = "/api/v1/accounts"
    tags = ["accounts"]

    @get(
        "/{account_id:str}/statements/{month:str}",
        operation_id="getStatement",
        opt={"openapi_content": OPENAPI_CONTENT},
    )
    async def statement(
        self,
        request: Request,
        ctx: AppContext,
        actor: Actor,
        account_id: str,
        month: str = Parameter(description="YYYY-MM (UTC), e.g. 2026-11"),
        fmt: str | None = Parameter(
            query="format",
            default=None,
            description="csv | pdf; absent, the Accept header chooses, else csv",
        ),
    ) -> Response[bytes]:
        """The month's statement (opening balance, every posting, totals, closing balance) as a CSV
        or PDF attachment, for the account's owner and staff; the current month gives one to date.
        ``format`` chooses, else the ``Accept`` header, else CSV. 422
        ``statement_month_in_future``, ``statement_before_account_opened``."""
        account = await resolve_account(ctx, account_id)
        try:
            year, number = parse_month(month)
        except InvalidMonthError as exc:
            raise BadRequestError(str(exc), "invalid_month") from None
        if fmt is None:
            fmt = _negotiated(request)
        elif fmt not in FORMATS:
            raise BadRequestError(f"format must be one of {', '.join(FORMATS)}.", "invalid_format")
        statement = await get_statement(ctx.pool, actor, account, year, number)
        media_type, render = RENDERERS[fmt]
        return Response(
            content=render(statement),
            media_type=media_type,
            headers={
                "Content-Disposition": f'attachment; filename="{_filename(statement, fmt)}"',
                "Cache-Control": "private, no-store",
            },
        )
