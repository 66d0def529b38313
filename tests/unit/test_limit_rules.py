"""Outgoing limits (issue #17): per payment and per day, per account, set by staff."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest

from server.application import errors as app_errors
from server.application.actor import Actor
from server.application.commands import TransferMoney, WithdrawMoney
from server.application.decide import State, decide
from server.application.errors import rule_error_from_code
from server.application.idempotency import decode_rejection, encode_rejection
from server.application.limits import SetAccountLimits
from server.domain import errors, limits
from server.domain.account import Account, open_account
from shared.api import AccountLimitsResponse
from shared.events import AccountLimitsChanged, MoneyDeposited

TODAY = date(2026, 11, 30)
MAX = 1_000_000_00
ADA = Actor(uuid.uuid4(), "customer")
TOM = Actor(uuid.uuid4(), "teller")


def funded(owner: Actor = ADA, balance: int = 1_000_00, per_tx: int = 100_00,
           daily: int = 150_00) -> Account:  # fmt: skip
    acc = Account.opened(
        open_account(
            account_id=uuid.uuid4(),
            owner_id=owner.user_id,
            name="Main",
            currency="EUR",
            per_transaction_limit=per_tx,
            daily_outgoing_limit=daily,
        )  # fmt: skip
    )
    return acc.apply(
        MoneyDeposited(
            account_id=acc.id,
            transaction_id=uuid.uuid4(),
            amount=balance,
            currency="EUR",
            balance_after=balance,
        )  # fmt: skip
    )


def state(*accounts: Account) -> State:
    return State(accounts={a.id: a for a in accounts}, max_amount=MAX)


def withdraw(acc: Account, amount: int, day: date = TODAY) -> WithdrawMoney:
    return WithdrawMoney(actor=ADA, account_id=acc.id, transaction_id=uuid.uuid4(),
                         amount=amount, booked_on=day)  # fmt: skip


def test_a_payment_over_the_per_payment_limit_is_refused_and_says_what_is_left_today() -> None:
    acc = funded()
    with pytest.raises(
        errors.TransactionLimitExceededError, match="at most 100.00 EUR per"
    ) as refused:
        decide(state(acc), withdraw(acc, 100_01))
    assert refused.value.remaining_today == 150_00
    assert decide(state(acc), withdraw(acc, 100_00)).states[0].balance == 900_00


def test_withdrawals_and_transfers_out_share_the_daily_limit() -> None:
    acc, other = funded(), funded(Actor(uuid.uuid4()))
    after = decide(state(acc), withdraw(acc, 100_00)).states[0]
    out = TransferMoney(actor=ADA, transfer_id=uuid.uuid4(), from_account_id=acc.id,
                        to_account_id=other.id, amount=50_01, booked_on=TODAY)  # fmt: skip
    with pytest.raises(errors.DailyLimitExceededError, match="50.00 EUR is left") as r:
        decide(state(after, other), out)
    assert r.value.remaining_today == 50_00
    ok = decide(state(after, other), TransferMoney(
        actor=ADA, transfer_id=uuid.uuid4(), from_account_id=acc.id, to_account_id=other.id,
        amount=50_00, booked_on=TODAY))  # fmt: skip
    assert ok.states[0].paid_out_on(TODAY) == 150_00 and ok.states[0].remaining_today(TODAY) == 0
    assert ok.states[1].paid_out_on(TODAY) == 0  # money in does not use the limit


def test_the_daily_limit_starts_again_the_next_day() -> None:
    acc = funded()
    spent = decide(state(acc), withdraw(acc, 100_00)).states[0]
    spent = decide(state(spent), withdraw(spent, 50_00)).states[0]
    tomorrow = TODAY + timedelta(days=1)
    assert spent.remaining_today(tomorrow) == 150_00
    assert decide(state(spent), withdraw(spent, 100_00, tomorrow)).states[0].balance == 750_00


def test_staff_change_the_limits_and_the_new_ones_apply_at_once() -> None:
    acc = funded()
    cmd = SetAccountLimits(actor=TOM, account_id=acc.id, per_transaction=500_00,
                           daily_outgoing=800_00, reason="salary day", booked_on=TODAY)  # fmt: skip
    decision = decide(state(acc), cmd)
    (event,) = decision.appends[0].events
    assert isinstance(event, AccountLimitsChanged) and event.reason == "salary day"
    assert isinstance(decision.response, AccountLimitsResponse)
    assert decision.response.remaining_today == 800_00
    after = decision.states[0]
    assert decide(state(after), withdraw(after, 500_00)).states[0].balance == 500_00


@pytest.mark.parametrize(
    ("actor", "error"),
    [(ADA, app_errors.PermissionDeniedError), (Actor(uuid.uuid4()), errors.AccountNotFoundError),
     (Actor(uuid.uuid4(), "auditor"), app_errors.PermissionDeniedError)],
)  # fmt: skip
def test_only_staff_change_limits(actor: Actor, error: type[Exception]) -> None:
    acc = funded()
    cmd = SetAccountLimits(actor=actor, account_id=acc.id, per_transaction=1, daily_outgoing=1)
    with pytest.raises(error):
        decide(state(acc), cmd)


def test_limit_values_are_checked() -> None:
    limits.check_limit_values(1, 1)
    for per_tx, daily in ((0, 10), (10, 0), (11, 10)):
        with pytest.raises(errors.InvalidAmountError):
            limits.check_limit_values(per_tx, daily)


def test_an_account_without_limits_is_bound_only_by_the_bank_wide_maximum() -> None:
    acc = Account.opened(open_account(account_id=uuid.uuid4(), owner_id=ADA.user_id,
                                      name="Old", currency="EUR"))  # fmt: skip
    acc.check_within_outgoing_limits(MAX, TODAY)
    assert acc.remaining_today(TODAY) is None


def test_a_stored_limit_refusal_replays_with_what_was_left_today() -> None:
    stored = decode_rejection(encode_rejection("daily_limit_exceeded", "5000 left", 5000))
    err = rule_error_from_code(stored.code, stored.message, stored.remaining_today)
    assert isinstance(err, errors.DailyLimitExceededError) and err.remaining_today == 5000
    # Any other refusal is stored as before (no field), and replays as its own class.
    other = encode_rejection("insufficient_funds", "not enough")
    assert b"remaining_today" not in other
    stored = decode_rejection(other)
    assert isinstance(
        rule_error_from_code(stored.code, stored.message), errors.InsufficientFundsError
    )


def set_limits(acc: Account, per_tx: int, daily: int, *, four_eyes: bool) -> SetAccountLimits:
    return SetAccountLimits(actor=TOM, account_id=acc.id, per_transaction=per_tx,
                            daily_outgoing=daily, booked_on=TODAY,
                            raise_needs_approval=four_eyes)  # fmt: skip


@pytest.mark.parametrize(
    ("per_tx", "daily", "raised"),
    [(100_00, 150_00, False), (50_00, 150_00, False), (50_00, 60_00, False),
     (100_01, 150_00, True), (100_00, 150_01, True), (150_00, 100_00 + 50_00, True),
     (120_00, 140_00, True)],  # one up and the other down is a raise as a whole
)  # fmt: skip
def test_raising_either_limit_is_a_raise(per_tx: int, daily: int, raised: bool) -> None:
    acc = funded(per_tx=100_00, daily=150_00)
    assert limits.raises_a_limit(acc, per_transaction=per_tx, daily=daily) is raised


def test_setting_a_limit_where_there_was_none_lowers_it() -> None:
    acc = Account.opened(open_account(account_id=uuid.uuid4(), owner_id=ADA.user_id,
                                      name="Old", currency="EUR"))  # fmt: skip
    assert not limits.raises_a_limit(acc, per_transaction=MAX, daily=MAX)


def test_with_four_eyes_a_raise_waits_and_a_lowering_applies_at_once() -> None:
    acc = funded(per_tx=100_00, daily=150_00)
    with pytest.raises(errors.ApprovalRequiredError, match="second member of staff"):
        decide(state(acc), set_limits(acc, 100_00, 200_00, four_eyes=True))
    lowered = decide(state(acc), set_limits(acc, 50_00, 100_00, four_eyes=True)).states[0]
    assert (lowered.per_transaction_limit, lowered.daily_outgoing_limit) == (50_00, 100_00)
    # The command an approval runs, or four eyes off: the raise applies.
    raised = decide(state(acc), set_limits(acc, 100_00, 200_00, four_eyes=False)).states[0]
    assert raised.daily_outgoing_limit == 200_00


def test_an_invalid_raise_is_refused_for_what_it_is_not_sent_for_approval() -> None:
    acc = funded(per_tx=100_00, daily=150_00)
    with pytest.raises(errors.InvalidAmountError):
        decide(state(acc), set_limits(acc, 300_00, 200_00, four_eyes=True))
