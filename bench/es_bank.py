"""The same bank in the ``eventsourcing`` library (9.5, PostgreSQL persistence), for comparison.

A BankAccount aggregate with the rules our Account has for these commands
(positive amounts, sufficient funds); a transfer saves both aggregates atomically.
"""

from __future__ import annotations

from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event


class InsufficientFundsError(Exception):
    pass


class BankAccount(Aggregate):
    @event("Opened")
    def __init__(self, owner: str, currency: str) -> None:
        self.owner = owner
        self.currency = currency
        self.balance = 0

    def check_amount(self, amount: int) -> None:
        if amount <= 0:
            raise ValueError("the amount must be greater than zero")

    def check_has_sufficient_funds(self, amount: int) -> None:
        if self.balance - amount < 0:
            raise InsufficientFundsError("insufficient funds")

    @event("Deposited")
    def deposit(self, amount: int) -> None:
        self.balance += amount

    @event("TransferredOut")
    def _debit(self, amount: int, to: UUID) -> None:
        self.balance -= amount

    @event("TransferredIn")
    def _credit(self, amount: int, source: UUID) -> None:
        self.balance += amount

    def send(self, amount: int, to: BankAccount) -> None:
        self.check_amount(amount)
        self.check_has_sufficient_funds(amount)
        self._debit(amount, to.id)
        to._credit(amount, self.id)


class Bank(Application):
    name = "esbank"

    def open_account(self, owner: str, currency: str = "EUR") -> UUID:
        account = BankAccount(owner, currency)
        self.save(account)
        return account.id

    def deposit(self, account_id: UUID, amount: int) -> int:
        account: BankAccount = self.repository.get(account_id)
        account.check_amount(amount)
        account.deposit(amount)
        self.save(account)
        return account.balance

    def transfer(self, source_id: UUID, target_id: UUID, amount: int) -> int:
        source: BankAccount = self.repository.get(source_id)
        target: BankAccount = self.repository.get(target_id)
        source.send(amount, target)
        self.save(source, target)  # one atomic write of both aggregates
        return source.balance
