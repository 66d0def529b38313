"""What a client can get wrong about a statement: answered 422 (server/api/errors.py)."""

from __future__ import annotations

from server.domain.errors import BusinessRuleError


class StatementMonthInFutureError(BusinessRuleError):
    code = "statement_month_in_future"


class StatementBeforeOpeningError(BusinessRuleError):
    code = "statement_before_account_opened"


class StatementDoesNotReconcileError(Exception):
    """The postings' own balances disagree with their amounts: the ledger is broken
    (a bug, never a client's doing), so no statement is issued."""
