"""Standing orders in the customer's words, and what the new-order form accepts.

An order pays an amount from one of the customer's accounts to an account number on a
first date and then, if it repeats, every week or every month for a number of payments
(the bank pays each one through its scheduler). Pure rules: no I/O, no Flet.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from uuid import UUID

from client import counterparties
from client.account_numbers import grouped
from client.balances import available_of
from shared.api import AccountResponse, PayeeResponse
from shared.money import money_text
from shared.standing_orders import MOST_PAYMENTS, Frequency, Occurrence, StandingOrderResponse
from shared.words import REFUSED_BECAUSE, day_text

FREQUENCIES: dict[Frequency, str] = {
    "once": "Once",
    "weekly": "Every week",
    "monthly": "Every month",
}
DEFAULT_PAYMENTS = "12"
SHOWN = ("active", "suspended")  # what the list shows; finished and cancelled ones go
UPCOMING_DAYS = 7  # Home's Upcoming: the payments due within a week


def first_date(text: str, today: date) -> date:
    """The first payment's date as typed (YYYY-MM-DD), today or later (the bank, which
    counts days in UTC, has the last word). Raises ValueError with a message a person
    can act on."""
    try:
        d = date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError("Enter a date like 2027-01-04") from None
    if d < today:
        raise ValueError(f"Choose today or a later day, from {day_text(today)}")
    return d


def payments(text: str, frequency: Frequency) -> int | None:
    """How many payments a repeating order makes (None for a single payment). Raises
    ValueError with a message a person can act on."""
    if frequency == "once":
        return None
    try:
        n = int(text.strip())
    except ValueError:
        raise ValueError("Enter how many payments, like 12") from None
    if not 1 <= n <= MOST_PAYMENTS:
        raise ValueError(f"From 1 to {MOST_PAYMENTS} payments")
    return n


def order_currency(order: StandingOrderResponse, accounts: Mapping[UUID, AccountResponse]) -> str:
    """The currency the order pays in: its own, else its paying account's ("" if unknown)."""
    source = accounts.get(order.from_account_id)
    return order.currency or (source.currency if source else "")


def _amount_and_to(
    order: StandingOrderResponse,
    accounts: Mapping[UUID, AccountResponse],
    payees: Iterable[PayeeResponse],
) -> tuple[str, str]:
    """("25.00 EUR", "Mum"): what each payment is, and to whom as the customer knows them."""
    currency = order_currency(order, accounts)
    to = counterparties.named(order.to_account_id, order.to_account_number, accounts, payees)
    amount = money_text(order.amount, currency) if currency else f"{order.amount} (minor units)"
    return amount, to or "another account"


def describe(
    order: StandingOrderResponse,
    accounts: Mapping[UUID, AccountResponse],
    payees: Iterable[PayeeResponse],
) -> tuple[str, str]:
    """The order's line and the line under it: ("25.00 EUR every month to Mum",
    "Next 4 Jan 2027 · 12 payments from Everyday")."""
    source = accounts.get(order.from_account_id)
    amount, to = _amount_and_to(order, accounts, payees)
    how = "once" if order.frequency == "once" else FREQUENCIES[order.frequency].lower()
    title = f"{amount} {how} to {to}"
    parts = []
    if order.status == "suspended":
        parts.append("Suspended: payments were refused")
    elif order.next_due is not None:
        parts.append(f"Next {day_text(order.next_due)}")
    if order.count is not None:
        parts.append(f"{order.count} payments")
    if order.end_date is not None:
        parts.append(f"until {day_text(order.end_date)}")
    if source is not None:
        parts.append(f"from {source.name}")
    return title, " · ".join(parts)


STATUS_WORDS = {
    "active": "Active",
    "suspended": "Suspended: payments were refused",
    "finished": "Finished",
    "cancelled": "Cancelled",
}


def order_rows(
    order: StandingOrderResponse,
    accounts: Mapping[UUID, AccountResponse],
    payees: Iterable[PayeeResponse],
) -> list[tuple[str, str]]:
    """The lines of an order's details, label and value, in the order shown."""
    source = accounts.get(order.from_account_id)
    _, to = _amount_and_to(order, accounts, payees)
    rows = [("Status", STATUS_WORDS.get(order.status, order.status))]
    if source is not None:
        rows.append(("From", source.name))
    rows.append(("To", to))
    number = grouped(order.to_account_number) if order.to_account_number else None
    if number and number != to:
        rows.append(("To account", number))
    if order.description:
        rows.append(("Reference", order.description))
    rows.append(("How often", FREQUENCIES[order.frequency]))
    rows.append(("First payment", day_text(order.start_date)))
    if order.next_due is not None:
        rows.append(("Next payment", day_text(order.next_due)))
    if order.status == "active" and order.frequency != "once" and order.payments_left:
        rows.append(("Payments left", str(order.payments_left)))  # after a resume: fewer
    ends = []
    if order.count is not None and order.frequency != "once":
        ends.append(f"after {order.count} payments")
    if order.end_date is not None:
        ends.append(f"on {day_text(order.end_date)}")
    if ends:
        rows.append(
            ("Ends", " or ".join(ends) + (", whichever comes first" if len(ends) > 1 else ""))
        )
    return rows


def occurrence_line(occurrence: Occurrence) -> tuple[str, str]:
    """A payment the order made or tried: ("Paid", "1 Mar 2027"), or ("Refused",
    "8 Mar 2027 · not enough money in the account")."""
    day = day_text(occurrence.due_date)
    if occurrence.outcome == "paid":
        return "Paid", day
    why = REFUSED_BECAUSE.get(occurrence.reason_code or "", occurrence.message or "")
    return "Refused", f"{day} · {why}" if why else day


def upcoming(
    orders: Iterable[StandingOrderResponse], today: date, days: int = UPCOMING_DAYS
) -> list[StandingOrderResponse]:
    """The active orders whose next payment is due within ``days`` from ``today``, the
    soonest first (one due before today is paid at the bank's next run: it comes first)."""
    last = today + timedelta(days=days)
    due = [o for o in orders if o.status == "active" and o.next_due and o.next_due <= last]
    return sorted(due, key=lambda o: (o.next_due or today, o.amount))


def suspended(orders: Iterable[StandingOrderResponse]) -> list[StandingOrderResponse]:
    """The orders the bank stopped after refused payments: they pay nothing until the
    customer resumes them, so Home shows them above what is due."""
    return [o for o in orders if o.status == "suspended"]


def suspended_line(
    order: StandingOrderResponse,
    accounts: Mapping[UUID, AccountResponse],
    payees: Iterable[PayeeResponse],
) -> tuple[str, str]:
    """("25.00 EUR to Mum", "Suspended: pays nothing until you resume it · from Everyday")."""
    amount, to = _amount_and_to(order, accounts, payees)
    detail = "Suspended: pays nothing until you resume it" + _from(order, accounts)
    return f"{amount} to {to}", detail


def paying_versions(
    orders: Iterable[StandingOrderResponse], accounts: Mapping[UUID, AccountResponse]
) -> dict[UUID, int]:
    """The versions of the accounts the active orders pay from: when one of them moves
    on, the bank may have made a payment and moved that order's next date (no other
    change of an account touches an order)."""
    return {
        a.id: a.version
        for o in orders
        if o.status == "active" and (a := accounts.get(o.from_account_id)) is not None
    }


def due_text(due: date, today: date) -> str:
    """When a payment goes, as a person says it: "Today", "Tomorrow", "Wed 9 Dec"."""
    if due <= today:
        return "Today"
    if due == today + timedelta(days=1):
        return "Tomorrow"
    return f"{due:%a} {due.day} {due:%b}"


def upcoming_line(
    order: StandingOrderResponse,
    accounts: Mapping[UUID, AccountResponse],
    payees: Iterable[PayeeResponse],
    today: date,
) -> tuple[str, str]:
    """An upcoming payment's line and the line under it: ("25.00 EUR to Mum",
    "Tomorrow · from Everyday"), and " · not enough money yet" while the paying account's
    available balance is less (the bank would refuse it if nothing came in first)."""
    amount, to = _amount_and_to(order, accounts, payees)
    assert order.next_due is not None  # upcoming() keeps only orders with one
    detail = due_text(order.next_due, today) + _from(order, accounts)
    source = accounts.get(order.from_account_id)
    if source is not None and available_of(source).amount < order.amount:
        detail += " · not enough money yet"
    return f"{amount} to {to}", detail


def _from(order: StandingOrderResponse, accounts: Mapping[UUID, AccountResponse]) -> str:
    """ " · from Everyday": the account the order pays from, where the app knows it."""
    source = accounts.get(order.from_account_id)
    return f" · from {source.name}" if source is not None else ""
