"""A number of things, and why a payment was refused, are worded as a person would say them."""

from __future__ import annotations

import inspect
from datetime import datetime

import server.application.errors
import server.domain.errors
from server.domain.errors import BusinessRuleError
from shared.words import REFUSED_BECAUSE, counted, moment_text, with_article

# The bank's refusals that are not of a payment's money: of other commands (closing,
# freezing, holds, opening, top-ups), or of the request itself (a malformed amount).
NOT_A_PAYMENTS_REFUSAL = {
    "domain_error",
    "invalid_amount",
    "account_already_frozen",
    "account_not_frozen",
    "account_not_empty",
    "pending_holds",
    "hold_expired",
    "hold_not_pending",
    "invalid_hold_timeout",
    "post_exceeds_hold",
    "too_many_accounts",
    "unsupported_currency",
    "top_up_daily_cap_exceeded",
}


def test_one_is_singular_and_every_other_number_plural() -> None:
    assert counted(1, "transaction") == "1 transaction"
    assert counted(0, "transaction") == "0 transactions"
    assert counted(2, "queued payment") == "2 queued payments"


def test_an_irregular_plural_is_given() -> None:
    assert counted(1, "try", "tries") == "1 try"
    assert counted(4, "try", "tries") == "4 tries"


def test_the_article_follows_the_first_sound_of_a_role() -> None:
    assert with_article("admin") == "an admin"
    assert with_article("auditor") == "an auditor"
    assert with_article("teller") == "a teller"
    assert with_article("customer") == "a customer"


def test_every_rule_that_refuses_a_payment_has_words_for_the_customer() -> None:
    """A new rule of the bank is worded here or said not to be a payment's: else the
    notification of a transfer it refused would not be sent, and the app would show the
    bank's technical message."""
    codes = {
        c.code
        for module in (server.domain.errors, server.application.errors)
        for _, c in inspect.getmembers(module, inspect.isclass)
        if issubclass(c, BusinessRuleError)
    }
    assert codes - NOT_A_PAYMENTS_REFUSAL == set(REFUSED_BECAUSE)


def test_a_moment_reads_as_its_day_and_local_time() -> None:
    assert moment_text(datetime(2027, 3, 1, 9, 5).astimezone()) == "1 Mar 2027, 09:05"
