"""A transaction's details, opened from a line of history: what a customer checks
before paying someone again or calling the bank: the amount, who it was with and
their account number, the reference, the time and the balance after. (The
transaction's internal id is not shown: the app shows no internal ids.) A payment
made before offers Pay again (client/filled_in.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import flet as ft

from client import counterparties
from client.account_numbers import grouped
from client.balances import money
from client.filled_in import FilledIn, repeat_of
from client.views.common import (
    amount_colour,
    close,
    kind_label,
    labelled,
    signed,
    transaction_tile,
    transaction_title,
)
from shared.api import TransactionResponse
from shared.words import moment_text

if TYPE_CHECKING:
    from client.views.shell import Shell


def history_tile(shell: Shell, tx: TransactionResponse) -> ft.ListTile:
    """A line of history that says who a transfer was with and opens its details."""
    party = counterparties.who(tx, shell.state.accounts, shell.state.payees)
    return transaction_tile(tx, party, lambda: show_transaction(shell, tx, party))


def _number(tx: TransactionResponse) -> str | None:
    return grouped(tx.counterparty_account_number) if tx.counterparty_account_number else None


def detail_rows(tx: TransactionResponse, party: str | None) -> list[tuple[str, str]]:
    """The lines of the details, label and value, in the order shown."""
    rows = [("Type", kind_label(tx))]
    side = counterparties.side(tx)
    number = _number(tx)
    if party and party != number:
        rows.append((side, party))  # one's own account's name or a payee's nickname
    if number:
        rows.append((f"{side} account", number))
    if tx.description:
        rows.append(("Reference", tx.description))
    rows += [
        ("Date", moment_text(tx.occurred_at)),
        ("Balance after", money(tx.balance_after)),
    ]
    return rows


def show_transaction(shell: Shell, tx: TransactionResponse, party: str | None) -> None:
    page = shell.page
    lines: list[ft.Control] = [
        ft.Text(signed(tx), size=28, weight=ft.FontWeight.W_600, color=amount_colour(tx))
    ]
    lines += [labelled(label, value) for label, value in detail_rows(tx, party)]
    named = party if party != _number(tx) else None  # the number is a line of its own
    dialog: ft.AlertDialog  # built below, closed by its buttons
    actions: list[ft.Control] = [ft.TextButton("Close", on_click=lambda e: close(dialog))]
    repeat = repeat_of(tx, shell.state.accounts)
    if repeat is not None:

        def pay_again(e: ft.Event[ft.TextButton], filled: FilledIn = repeat) -> None:
            close(dialog)
            shell.move_money("transfer", filled=filled)

        actions.insert(0, ft.TextButton("Pay again", icon=ft.Icons.REPLAY, on_click=pay_again))
    dialog = ft.AlertDialog(
        title=ft.Text(transaction_title(tx, named)),
        content=ft.Column(lines, tight=True, spacing=10, width=320),
        actions=actions,
    )
    page.show_dialog(dialog)
