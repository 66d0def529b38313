"""Formatting and small widgets shared by the screens."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import flet as ft

from client import counterparties
from client.account_numbers import grouped
from client.api import ApiError, SessionExpired, Unreachable
from client.balances import available_of, money
from shared.api import (
    ACCOUNT_NAME_MAX_LENGTH,
    EMAIL_PATTERN,
    AccountResponse,
    TransactionResponse,
)
from shared.words import moment_text

SEED = "#1B5E8C"  # the bank's brand colour; Material 3 derives the palette from it
CURRENCIES = ["EUR", "USD", "GBP", "CHF", "SEK", "NOK", "DKK", "PLN", "CZK", "CAD", "AUD", "JPY"]

KIND_LABEL = {
    "deposit": "Deposit",
    "withdrawal": "Withdrawal",
    "transfer_out": "Transfer sent",
    "transfer_in": "Transfer received",
    "transfer": "Transfer",
}
KIND_ICON = {
    "deposit": ft.Icons.SAVINGS_OUTLINED,
    "withdrawal": ft.Icons.LOCAL_ATM,
    "transfer_out": ft.Icons.NORTH_EAST,
    "transfer_in": ft.Icons.SOUTH_WEST,
    "transfer": ft.Icons.SWAP_HORIZ,
}


def incoming(tx: TransactionResponse) -> bool:
    return tx.kind in ("deposit", "transfer_in")


def signed(tx: TransactionResponse) -> str:
    return f"{'+' if incoming(tx) else '−'}{money(tx.amount)}"


def amount_colour(tx: TransactionResponse) -> str | None:
    """Money in is green; money out keeps the text's colour."""
    return ft.Colors.GREEN_700 if incoming(tx) else None


def kind_label(tx: TransactionResponse) -> str:
    return KIND_LABEL.get(tx.kind, tx.kind)


def transaction_title(tx: TransactionResponse, party: str | None) -> str:
    """'To Savings', 'From Mum', or the kind ('Deposit') when there is no other side."""
    return counterparties.title(kind_label(tx), tx, party)


def account_number_text(a: AccountResponse) -> str:
    """The account's number in groups of four (the internal id is never shown)."""
    return grouped(a.account_number) if a.account_number else "(being assigned)"


def account_label(a: AccountResponse) -> str:
    return f"{a.name} · {money(available_of(a))}"


# What the app takes for an email address before it asks the bank (the API's own check).
EMAIL = re.compile(EMAIL_PATTERN)


# A code the bank emails (a password reset's, a new email address's): where it is typed.
EMAILED_CODE_LABEL = "Code from the email"
EMAILED_CODE_HINT = "The 8 characters from the email, like ABCD-EFGH"


def emailed_code_field() -> ft.TextField:
    return ft.TextField(
        label=EMAILED_CODE_LABEL,
        helper="Like ABCD-EFGH",
        capitalization=ft.TextCapitalization.CHARACTERS,
        autofocus=True,
    )


def error_text(e: Exception) -> str:
    """What to tell the customer about a failed request."""
    if isinstance(e, ApiError):
        return e.reason
    if isinstance(e, Unreachable):
        return "The bank cannot be reached. Check your connection and try again."
    if isinstance(e, SessionExpired):
        return "Your session has expired. Please sign in again."
    return "Something went wrong. Please try again."


def section_title(text: str) -> ft.Text:
    return ft.Text(text, theme_style=ft.TextThemeStyle.TITLE_MEDIUM, weight=ft.FontWeight.W_600)


def labelled(label: str, value: str) -> ft.Control:
    """A line of a details dialog: a small label over its value."""
    return ft.Column(
        [ft.Text(label, size=12, color=ft.Colors.ON_SURFACE_VARIANT), ft.Text(value)],
        spacing=2,
    )


def transaction_tile(
    tx: TransactionResponse,
    party: str | None = None,
    on_click: Callable[[], None] | None = None,
) -> ft.ListTile:
    """One line of history; ``party``: who a transfer was with (client.counterparties)."""
    subtitle = moment_text(tx.occurred_at)
    if tx.description:
        subtitle = f"{tx.description} · {subtitle}"
    return ft.ListTile(
        leading=ft.CircleAvatar(
            content=ft.Icon(KIND_ICON.get(tx.kind, ft.Icons.RECEIPT_LONG), size=20),
            bgcolor=ft.Colors.SECONDARY_CONTAINER
            if incoming(tx)
            else ft.Colors.SURFACE_CONTAINER_HIGHEST,
            radius=18,
        ),
        title=ft.Text(transaction_title(tx, party)),
        subtitle=ft.Text(subtitle, size=12),
        trailing=ft.Text(
            signed(tx),
            weight=ft.FontWeight.W_600,
            color=amount_colour(tx),
        ),
        dense=True,
        on_click=(lambda e: on_click()) if on_click else None,
    )


def run_safely(
    page: ft.Page, fn: Callable[[], Awaitable[Any]], on_error: Callable[[str], None]
) -> None:
    """Run a UI action on the page's loop and report any failure in words."""

    async def job() -> None:
        try:
            await fn()
        except (ApiError, Unreachable, SessionExpired) as e:
            on_error(error_text(e))

    page.run_task(job)


def account_name_field(value: str) -> ft.TextField:
    return ft.TextField(
        label="Account name", value=value, autofocus=True, max_length=ACCOUNT_NAME_MAX_LENGTH
    )


def account_name_of(field: ft.TextField, page: ft.Page) -> str | None:
    """The account name typed, or None after saying on the field that one is needed."""
    name = (field.value or "").strip()
    if not name:
        field.error = "Give the account a name"
        page.update()
        return None
    return name


def take_submitted(e: ft.Event[Any]) -> None:
    """A field submitted with Enter takes the text it was submitted with.

    Flutter sends that text with the submit event. The field's ``value`` here is the
    last change it sent, and in a browser that change can go missing (once in CI the
    history was searched for the word before, and the next update put that word back
    into the field). Called first by every ``on_submit`` handler; a button's click
    carries no text and changes nothing."""
    if isinstance(e.control, ft.TextField) and isinstance(e.data, str):
        e.control.value = e.data


def password_field(label: str, **options: Any) -> ft.TextField:
    """A password field whose show/hide toggle a screen reader can name (Flet's own
    ``can_reveal_password`` toggle is a button without a name)."""
    field = ft.TextField(label=label, password=True, **options)
    toggle = ft.IconButton()

    def show(hidden: bool) -> None:
        field.password = hidden
        what = "Show password" if hidden else "Hide password"
        icon = ft.Icons.VISIBILITY_OUTLINED if hidden else ft.Icons.VISIBILITY_OFF_OUTLINED
        toggle.icon = ft.Icon(icon, semantics_label=what)
        toggle.tooltip = what

    def flip(e: ft.Event[ft.IconButton]) -> None:
        show(not field.password)
        field.update()

    show(True)
    toggle.on_click = flip
    field.suffix_icon = toggle
    return field


def dropdown(label: str, **options: Any) -> ft.Dropdown:
    """A dropdown a screen reader can name: Flutter web exposes it as a button without
    its label, so the label is also its tooltip (the name it is announced by)."""
    return ft.Dropdown(label=label, tooltip=label, **options)


def relabel(field: ft.Dropdown, label: str) -> None:
    field.label = field.tooltip = label


def snack(page: ft.Page, text: str) -> None:
    page.show_dialog(ft.SnackBar(content=ft.Text(text), behavior=ft.SnackBarBehavior.FLOATING))


def ask(
    page: ft.Page,
    title: str,
    controls: list[ft.Control],
    action: ft.Control,
    *,
    cancel: str = "Cancel",
    width: int = 320,
    spacing: int = 12,
    modal: bool = False,
    scroll: bool = False,
) -> ft.AlertDialog:
    """A dialog of ``controls`` with two buttons: ``cancel`` closes it, ``action`` acts
    (``scroll``: a form that may be taller than a phone's screen). Returned, for
    ``close``."""
    dialog = ft.AlertDialog(
        modal=modal,
        title=ft.Text(title),
        content=ft.Column(
            controls,
            tight=True,
            spacing=spacing,
            width=width,
            scroll=ft.ScrollMode.AUTO if scroll else None,
        ),
    )
    dialog.actions = [ft.TextButton(cancel, on_click=lambda ev: close(dialog)), action]
    page.show_dialog(dialog)
    return dialog


def close(dialog: ft.AlertDialog) -> None:
    """Close this dialog: the app's one way to close one. (``page.pop_dialog`` closes
    the newest one open, which is a snack bar shown since, if one is: a Copy button's
    "copied", say.)"""
    dialog.open = False
    dialog.update()
