"""Where money comes from (issue #17): a teller's cash, a customer's development
top-up under a daily cap, and nothing else."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest

from server.application import errors as app_errors
from server.application.actor import Actor
from server.application.decide import State, decide
from server.application.funding import TOP_UP_NOTICE, DepositCash, TopUpAccount
from server.domain import errors, funding
from server.domain.account import Account, open_account
from shared.api import MoneyMovementResponse
from shared.events import DEPOSIT_SOURCE_CASH, DEPOSIT_SOURCE_DEV_TOP_UP, MoneyDeposited

TODAY = date(2026, 11, 30)
LIMIT = 1_000_000_00
ADA = Actor(uuid.uuid4(), "customer")
TOM = Actor(uuid.uuid4(), "teller")
BOSS = Actor(uuid.uuid4(), "admin")


def account_of(owner: Actor, currency: str = "EUR") -> Account:
    return Account.opened(
        open_account(
            account_id=uuid.uuid4(), owner_id=owner.user_id, name="Main", currency=currency
        )
    )


def top_up(account: Account, amount: int, *, cap: int = 100_00, enabled: bool = True,
           day: date = TODAY, owned: tuple[uuid.UUID, ...] = ()) -> TopUpAccount:  # fmt: skip
    return TopUpAccount(
        actor=ADA, account_id=account.id, transaction_id=uuid.uuid4(), amount=amount,
        booked_on=day, enabled=enabled, daily_cap=cap, owned=owned,
    )  # fmt: skip


def state(*accounts: Account) -> State:
    return State(accounts={a.id: a for a in accounts}, max_amount=LIMIT)


def test_a_customer_tops_up_in_development_and_is_told_so() -> None:
    acc = account_of(ADA)
    decision = decide(state(acc), top_up(acc, 40_00))
    (event,) = decision.appends[0].events
    assert isinstance(event, MoneyDeposited)
    assert event.source == DEPOSIT_SOURCE_DEV_TOP_UP and event.booked_on == TODAY
    assert isinstance(decision.response, MoneyMovementResponse)
    assert decision.response.notice == TOP_UP_NOTICE
    assert decision.states[0].balance == 40_00 and decision.states[0].topped_up_on(TODAY) == 40_00


def test_production_refuses_a_customers_deposit() -> None:
    acc = account_of(ADA)
    with pytest.raises(errors.TopUpsDisabledError):
        decide(state(acc), top_up(acc, 1_00, enabled=False))


def test_the_daily_cap_counts_every_account_of_the_customer_and_says_what_is_left() -> None:
    first, second = account_of(ADA), account_of(ADA)
    after = decide(state(first, second), top_up(first, 70_00, owned=(second.id,))).states[0]
    left = r"capped at 100\.00 EUR a day per customer; 30\.00 EUR is left today"
    with pytest.raises(errors.TopUpCapExceededError, match=left):
        decide(state(after, second), top_up(second, 30_01, owned=(first.id,)))
    ok = decide(state(after, second), top_up(second, 30_00, owned=(first.id,)))
    assert ok.states[0].balance == 30_00


def test_the_daily_cap_counts_per_currency_because_it_is_in_minor_units() -> None:
    """100 yen are not 1.00 EUR: a top-up in one currency leaves the other's cap alone."""
    euros, yen = account_of(ADA), account_of(ADA, "JPY")
    after = decide(state(euros, yen), top_up(euros, 100_00, owned=(yen.id,))).states[0]
    full_yen = decide(state(after, yen), top_up(yen, 100_00, owned=(euros.id,))).states[0]
    assert full_yen.balance == 100_00
    with pytest.raises(errors.TopUpCapExceededError, match="at 10,000 JPY a day .*; 0 JPY is"):
        decide(state(after, full_yen), top_up(full_yen, 1, owned=(euros.id,)))


def test_the_cap_starts_again_the_next_day() -> None:
    acc = account_of(ADA)
    full = decide(state(acc), top_up(acc, 100_00)).states[0]
    tomorrow = TODAY + timedelta(days=1)
    assert full.topped_up_on(tomorrow) == 0
    nxt = decide(state(full), top_up(full, 100_00, day=tomorrow)).states[0]
    assert nxt.balance == 200_00 and nxt.topped_up_on(tomorrow) == 100_00


def test_cash_and_transfers_in_do_not_count_towards_the_top_up_cap() -> None:
    acc = account_of(ADA)
    cash = DepositCash(actor=TOM, account_id=acc.id, transaction_id=uuid.uuid4(),
                       amount=500_00, booked_on=TODAY)  # fmt: skip
    after = decide(state(acc), cash).states[0]
    assert after.topped_up_on(TODAY) == 0
    assert decide(state(after), top_up(after, 100_00)).states[0].balance == 600_00


def test_a_teller_takes_cash_into_a_customers_account() -> None:
    acc = account_of(ADA)
    cmd = DepositCash(actor=TOM, account_id=acc.id, transaction_id=uuid.uuid4(),
                      amount=300_00, booked_on=TODAY)  # fmt: skip
    decision = decide(state(acc), cmd)
    (event,) = decision.appends[0].events
    assert isinstance(event, MoneyDeposited) and event.source == DEPOSIT_SOURCE_CASH
    assert decision.states[0].balance == 300_00


@pytest.mark.parametrize("actor", [ADA, BOSS, Actor(uuid.uuid4(), "auditor")])
def test_only_a_teller_takes_cash(actor: Actor) -> None:
    acc = account_of(Actor(uuid.uuid4()))
    cmd = DepositCash(actor=actor, account_id=acc.id, transaction_id=uuid.uuid4(),
                      amount=1_00, booked_on=TODAY)  # fmt: skip
    # a customer does not even learn the account exists; staff are refused
    expected = (
        errors.AccountNotFoundError
        if actor.role == "customer"
        else app_errors.PermissionDeniedError
    )
    with pytest.raises(expected):
        decide(state(acc), cmd)


def test_a_teller_cannot_pay_cash_into_their_own_account() -> None:
    own = account_of(TOM)
    cmd = DepositCash(actor=TOM, account_id=own.id, transaction_id=uuid.uuid4(),
                      amount=1_00, booked_on=TODAY)  # fmt: skip
    with pytest.raises(errors.CashDepositToOwnAccountError):
        decide(state(own), cmd)


def test_a_top_up_goes_only_into_an_account_of_ones_own() -> None:
    acc = account_of(ADA)
    cmd = TopUpAccount(actor=TOM, account_id=acc.id, transaction_id=uuid.uuid4(), amount=1_00,
                       booked_on=TODAY, enabled=True, daily_cap=100_00)  # fmt: skip
    with pytest.raises(app_errors.PermissionDeniedError):
        decide(state(acc), cmd)


def test_named_checks() -> None:
    funding.check_top_ups_enabled(True)
    funding.check_top_up_within_daily_cap(already_today=60, amount=40, cap=100, currency="EUR")
    with pytest.raises(errors.TopUpCapExceededError, match="0.00 EUR is left"):
        funding.check_top_up_within_daily_cap(already_today=120, amount=1, cap=100, currency="EUR")
    with pytest.raises(errors.TopUpCapExceededError, match="at 100 JPY a day .* 0 JPY is left"):
        funding.check_top_up_within_daily_cap(already_today=120, amount=1, cap=100, currency="JPY")


def cash(account: Account, amount: int, threshold: int | None, actor: Actor = TOM) -> DepositCash:
    return DepositCash(actor=actor, account_id=account.id, transaction_id=uuid.uuid4(),
                       amount=amount, booked_on=TODAY, approval_threshold=threshold)  # fmt: skip


def test_a_cash_deposit_over_the_threshold_needs_a_second_person_and_at_it_does_not() -> None:
    assert not funding.needs_second_person(500_00, 500_00)
    assert funding.needs_second_person(500_01, 500_00)
    assert not funding.needs_second_person(10**12, None)  # four eyes off
    acc = account_of(ADA)
    assert decide(state(acc), cash(acc, 500_00, 500_00)).states[0].balance == 500_00
    with pytest.raises(
        errors.ApprovalRequiredError, match=r"over 500\.00 EUR needs a second member of staff"
    ):
        decide(state(acc), cash(acc, 500_01, 500_00))
    # The command an approval runs has no threshold: it credits.
    assert decide(state(acc), cash(acc, 500_01, None)).states[0].balance == 500_01


def test_a_cash_deposit_that_breaks_a_rule_is_refused_for_it_not_sent_for_approval() -> None:
    acc = account_of(ADA)
    with pytest.raises(app_errors.PermissionDeniedError):  # a customer takes no cash
        decide(state(acc), cash(acc, 900_00, 500_00, actor=ADA))
    own = account_of(TOM)
    with pytest.raises(errors.CashDepositToOwnAccountError):
        decide(state(own), cash(own, 900_00, 500_00))
    with pytest.raises(errors.AmountLimitExceededError):
        decide(state(acc), cash(acc, LIMIT + 1, 500_00))
