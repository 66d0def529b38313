"""The Account aggregate's rules, told as what a customer tries and what must happen."""

from __future__ import annotations

import uuid

import pytest

from server.domain import errors
from server.domain.account import Account, open_account, transfer
from shared.events import (
    AccountClosed,
    AccountFrozen,
    AccountRenamed,
    AccountUnfrozen,
    MoneyDeposited,
    MoneyTransferredIn,
    MoneyTransferredOut,
    MoneyWithdrawn,
)
from shared.money import INT64_MAX

LIMIT = 1_000_000_00


def new_account(currency: str = "EUR", overdraft: int = 0) -> Account:
    opened = open_account(
        account_id=uuid.uuid4(),
        owner_id=uuid.uuid4(),
        name=" Everyday ",
        currency=currency,
        overdraft_limit=overdraft,
    )
    return Account.opened(opened)


def funded(amount: int, **kw: object) -> Account:
    acc = new_account(**kw)  # type: ignore[arg-type]
    return acc.apply(deposit(acc, amount)) if amount else acc


def deposit(acc: Account, amount: int, currency: str | None = None) -> MoneyDeposited:
    return acc.deposit(
        amount=amount,
        currency=currency or acc.currency,
        transaction_id=uuid.uuid4(),
        description="",
        limit=LIMIT,
    )


def withdraw(acc: Account, amount: int, currency: str | None = None) -> MoneyWithdrawn:
    return acc.withdraw(
        amount=amount,
        currency=currency or acc.currency,
        transaction_id=uuid.uuid4(),
        description="",
        limit=LIMIT,
    )


def test_a_new_account_is_active_empty_and_at_version_one() -> None:
    acc = new_account()
    assert (acc.status, acc.balance, acc.version, acc.name) == ("active", 0, 1, "Everyday")


def test_only_offered_currencies_can_be_opened() -> None:
    with pytest.raises(errors.UnsupportedCurrencyError):
        open_account(account_id=uuid.uuid4(), owner_id=uuid.uuid4(), name="x", currency="XXX")


def test_a_deposit_raises_the_balance_and_records_it() -> None:
    acc = new_account()
    event = deposit(acc, 10_000)
    after = acc.apply(event)
    assert event.balance_after == 10_000 and after.balance == 10_000 and after.version == 2


@pytest.mark.parametrize("amount", [0, -1, -10_000])
def test_amounts_must_be_positive(amount: int) -> None:
    acc = funded(100)
    with pytest.raises(errors.InvalidAmountError):
        deposit(acc, amount)
    with pytest.raises(errors.InvalidAmountError):
        withdraw(acc, amount)


def test_an_amount_over_the_per_transaction_limit_is_refused() -> None:
    with pytest.raises(errors.AmountLimitExceededError):
        deposit(new_account(), LIMIT + 1)
    deposit(new_account(), LIMIT)  # exactly the limit is fine


def test_a_balance_can_never_overflow_int64() -> None:
    acc = Account(
        id=uuid.uuid4(),
        owner_id=uuid.uuid4(),
        name="x",
        currency="EUR",
        balance=INT64_MAX - 5,
        version=9,
    )
    with pytest.raises(errors.AmountLimitExceededError):
        deposit(acc, 6)


def test_the_currency_must_match_the_account() -> None:
    acc = funded(1_000)
    with pytest.raises(errors.CurrencyMismatchError):
        deposit(acc, 100, currency="USD")
    with pytest.raises(errors.CurrencyMismatchError):
        withdraw(acc, 100, currency="USD")


def test_a_withdrawal_never_takes_the_balance_below_zero() -> None:
    acc = funded(100)
    with pytest.raises(errors.InsufficientFundsError):
        withdraw(acc, 101)
    assert acc.apply(withdraw(acc, 100)).balance == 0


def test_an_overdraft_limit_allows_a_bounded_negative_balance() -> None:
    acc = funded(100, overdraft=50)
    assert acc.apply(withdraw(acc, 150)).balance == -50
    with pytest.raises(errors.InsufficientFundsError):
        withdraw(acc, 151)


def test_a_frozen_account_accepts_deposits_but_no_debits() -> None:
    acc = funded(500)
    frozen = acc.apply(acc.freeze("fraud check"))
    assert frozen.status == "frozen"
    assert frozen.apply(deposit(frozen, 100)).balance == 600
    with pytest.raises(errors.AccountFrozenError):
        withdraw(frozen, 1)
    target = new_account()
    with pytest.raises(errors.AccountFrozenError):
        transfer(
            source=frozen,
            target=target,
            amount=1,
            transfer_id=uuid.uuid4(),
            description="",
            limit=LIMIT,
        )


def test_freezing_twice_and_unfreezing_an_active_account_are_refused() -> None:
    acc = new_account()
    frozen = acc.apply(acc.freeze(""))
    with pytest.raises(errors.AccountAlreadyFrozenError):
        frozen.freeze("")
    with pytest.raises(errors.AccountNotFrozenError):
        acc.unfreeze()
    assert isinstance(frozen.unfreeze(), AccountUnfrozen)
    assert frozen.apply(frozen.unfreeze()).status == "active"


def test_closing_needs_a_zero_balance() -> None:
    acc = funded(1)
    with pytest.raises(errors.AccountNotEmptyError):
        acc.close()
    emptied = acc.apply(withdraw(acc, 1))
    assert isinstance(emptied.close(), AccountClosed)


def test_a_rename_names_the_account_and_the_same_name_is_no_change() -> None:
    acc = new_account()
    event = acc.rename("  Holiday fund ")
    assert isinstance(event, AccountRenamed) and event.name == "Holiday fund"
    renamed = acc.apply(event)
    assert (renamed.name, renamed.version, renamed.balance) == ("Holiday fund", 2, acc.balance)
    assert renamed.rename("Holiday fund") is None
    closed = acc.apply(acc.close())
    with pytest.raises(errors.AccountClosedError):
        closed.rename("Old")


def test_a_closed_account_accepts_nothing() -> None:
    acc = new_account()
    closed = acc.apply(acc.close())
    with pytest.raises(errors.AccountClosedError):
        deposit(closed, 1)
    with pytest.raises(errors.AccountClosedError):
        withdraw(closed, 1)
    with pytest.raises(errors.AccountClosedError):
        closed.freeze("")
    with pytest.raises(errors.AccountClosedError):
        closed.close()
    with pytest.raises(errors.AccountClosedError, match="^The destination account is closed"):
        transfer(
            source=funded(10),
            target=closed,
            amount=1,
            transfer_id=uuid.uuid4(),
            description="",
            limit=LIMIT,
        )


def test_a_transfer_moves_money_between_two_accounts() -> None:
    source, target = funded(1_000), funded(50)
    out, into, done = transfer(
        source=source,
        target=target,
        amount=300,
        transfer_id=uuid.uuid4(),
        description="rent",
        limit=LIMIT,
    )
    assert isinstance(out, MoneyTransferredOut) and isinstance(into, MoneyTransferredIn)
    assert source.apply(out).balance == 700 and target.apply(into).balance == 350
    assert out.transfer_id == into.transfer_id == done.transfer_id
    assert (out.balance_after, into.balance_after) == (700, 350)


def test_a_transfer_needs_funds_the_same_currency_and_two_accounts() -> None:
    source = funded(100)
    with pytest.raises(errors.InsufficientFundsError):
        transfer(
            source=source,
            target=funded(0),
            amount=101,
            transfer_id=uuid.uuid4(),
            description="",
            limit=LIMIT,
        )
    with pytest.raises(errors.CurrencyMismatchError):
        transfer(
            source=source,
            target=funded(0, currency="USD"),
            amount=1,
            transfer_id=uuid.uuid4(),
            description="",
            limit=LIMIT,
        )
    with pytest.raises(errors.SameAccountTransferError):
        transfer(
            source=source,
            target=source,
            amount=1,
            transfer_id=uuid.uuid4(),
            description="",
            limit=LIMIT,
        )


def test_state_is_the_fold_of_the_events() -> None:
    acc = new_account()
    history = [
        open_account(account_id=acc.id, owner_id=acc.owner_id, name="Everyday", currency="EUR")
    ]
    state = acc
    for step in (
        lambda a: deposit(a, 500),
        lambda a: withdraw(a, 200),
        lambda a: a.freeze("x"),
        lambda a: a.unfreeze(),
    ):
        event = step(state)
        history.append(event)
        state = state.apply(event)
    assert Account.from_events(history) == state
    assert state.balance == 300 and state.version == 5
    assert isinstance(history[3], AccountFrozen)


def test_decisions_never_mutate_the_state_they_were_made_on() -> None:
    acc = funded(100)
    withdraw(acc, 50)
    assert acc.balance == 100


def test_a_customer_holding_the_most_open_accounts_cannot_open_another() -> None:
    def opening(held: int, most: int | None) -> None:
        open_account(
            account_id=uuid.uuid4(),
            owner_id=uuid.uuid4(),
            name="One more",
            currency="EUR",
            open_accounts=held,
            most_open_accounts=most,
        )

    opening(19, 20)  # the twentieth
    opening(5_000, None)  # no cap
    with pytest.raises(errors.TooManyAccountsError) as refused:
        opening(20, 20)
    assert refused.value.code == "too_many_accounts"
    assert refused.value.message == (
        "You hold 20 open accounts, the most one customer may;"
        " close one you no longer use to open another."
    )
