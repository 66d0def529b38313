"""The Standing orders section of Payments and of an account's screen: the customer's
orders that will still pay (each with Cancel; on an account's screen, those paying from
or into it) and New standing order (from one of their accounts to an account number,
once or every week or month)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import TYPE_CHECKING, TypeVar, cast
from uuid import UUID

import flet as ft

from client.account_numbers import grouped, shape_problem
from client.api import ApiError, SessionExpired, Unreachable
from client.standing_orders import (
    DEFAULT_PAYMENTS,
    FREQUENCIES,
    SHOWN,
    describe,
    first_date,
    occurrence_line,
    order_currency,
    order_rows,
    payments,
)
from client.views.common import ask, close, dropdown, error_text, labelled, section_title, snack
from shared.api import AccountResponse
from shared.money import major_text, parse_major
from shared.standing_orders import (
    Frequency,
    StandingOrderByNumberRequest,
    StandingOrderChange,
    StandingOrderResponse,
)
from shared.words import day_text

if TYPE_CHECKING:
    from client.views.shell import Shell

T = TypeVar("T")
DIALOG_WIDTH = 340
FIELD_WIDTH = DIALOG_WIDTH - 56  # a dropdown as wide as the text fields (the dialog's padding)


class StandingOrdersSection:
    """``account_id``: only the orders paying from or into that account, and a new order
    pays from it unless the customer picks another."""

    def __init__(self, shell: Shell, account_id: UUID | None = None) -> None:
        self.shell = shell
        self.account_id = account_id
        self.page = shell.page
        self.state = shell.state
        self.orders: list[StandingOrderResponse] = []
        self.loaded = False  # nothing is said about the orders before the bank's list came
        self.list = ft.Column(spacing=0)
        self.note = ft.Text("", size=12, color=ft.Colors.ON_SURFACE_VARIANT)
        self.control = ft.Column(
            [
                ft.Row(
                    [
                        section_title("Standing orders"),
                        ft.TextButton(
                            "New standing order",
                            icon=ft.Icons.EVENT_REPEAT,
                            on_click=self._new_order,
                        ),
                    ],
                    alignment=ft.MainAxisAlignment.SPACE_BETWEEN,
                    wrap=True,
                ),
                self.list,
                self.note,
            ],
            spacing=8,
        )

    async def load(self) -> None:
        try:
            found = await self.shell.ctrl.standing_orders()
        except (ApiError, Unreachable, SessionExpired) as e:
            self.note.value = error_text(e)
            self.page.update()
            return
        if found is None:  # a bank without standing orders
            self.control.visible = False
        else:
            self.orders, self.loaded = found, True
            self.render()
        self.page.update()

    def shown(self) -> list[StandingOrderResponse]:
        """The orders that will still pay, from or into the section's account if it has one."""
        return [o for o in self.orders if o.status in SHOWN and self._concerns(o)]

    def render(self) -> None:
        if not self.loaded:
            return
        shown = self.shown()
        self.list.controls = [self._tile(o) for o in shown]
        none = "No standing orders" + (" from or to this account" if self.account_id else "")
        self.note.value = "" if shown else f"{none}. Set one up to pay regularly."

    def _concerns(self, order: StandingOrderResponse) -> bool:
        return self.account_id is None or self.account_id in (
            order.from_account_id,
            order.to_account_id,
        )

    def _tile(self, order: StandingOrderResponse) -> ft.Control:
        title, detail = describe(order, self.state.accounts, self.state.payees)
        actions: list[ft.Control] = [
            ft.TextButton("Cancel", on_click=lambda e, o=order: self._cancel(o))
        ]
        if order.status == "suspended":  # refused three times: the customer may start it again
            resume = ft.TextButton("Resume", on_click=lambda e, o=order: self._resume(o))
            actions.insert(0, resume)
        return ft.ListTile(
            leading=ft.Icon(ft.Icons.EVENT_REPEAT),
            title=ft.Text(title),
            subtitle=ft.Text(detail, size=12),
            trailing=actions[0] if len(actions) == 1 else ft.Row(actions, tight=True, spacing=0),
            content_padding=ft.Padding.only(left=0, right=0),
            on_click=lambda e, o=order: self.page.run_task(self._show, o),
        )

    async def _show(self, order: StandingOrderResponse) -> None:
        """The order's details and every payment it made or tried, newest first, with
        what can still be done to it."""
        title, _ = describe(order, self.state.accounts, self.state.payees)
        payments_list: list[ft.Control] = []
        try:
            order = await self.shell.ctrl.standing_order(order.id)
            for occurrence in reversed(order.occurrences):
                outcome, when = occurrence_line(occurrence)
                payments_list.append(labelled(outcome, when))
            if not order.occurrences:
                payments_list.append(ft.Text("None yet", size=12))
        except (ApiError, Unreachable, SessionExpired) as e:
            payments_list.append(ft.Text(error_text(e), size=12, color=ft.Colors.ERROR))
        lines: list[ft.Control] = [
            labelled(label, value)
            for label, value in order_rows(order, self.state.accounts, self.state.payees)
        ]
        lines += [section_title("Payments"), *payments_list]

        dialog: ft.AlertDialog  # built below, closed by its buttons

        def then(act: Callable[[StandingOrderResponse], None]) -> Callable[[ft.Event], None]:
            def handler(e: ft.Event) -> None:
                close(dialog)
                act(order)

            return handler

        actions: list[ft.Control] = [ft.TextButton("Close", on_click=lambda e: close(dialog))]
        if order.status in SHOWN:
            actions.insert(0, ft.TextButton("Cancel order", on_click=then(self._cancel)))
            actions.insert(0, ft.TextButton("Change", on_click=then(self._change)))
        if order.status == "suspended":
            actions.insert(0, ft.TextButton("Resume", on_click=then(self._resume)))
        dialog = ft.AlertDialog(
            title=ft.Text(title),
            content=ft.Column(
                lines, tight=True, spacing=10, width=DIALOG_WIDTH, scroll=ft.ScrollMode.AUTO
            ),
            actions=actions,
        )
        self.page.show_dialog(dialog)

    def _cancel(self, order: StandingOrderResponse) -> None:
        title, _ = describe(order, self.state.accounts, self.state.payees)
        self._ask_then(
            "Cancel standing order?",
            f"{title}: no further payments will be made.",
            ("Cancel order", "Keep it"),
            lambda: self.shell.ctrl.cancel_standing_order(order.id),
            lambda done: "Standing order cancelled",
        )

    def _resume(self, order: StandingOrderResponse) -> None:
        title, _ = describe(order, self.state.accounts, self.state.payees)
        self._ask_then(
            "Resume standing order?",
            f"{title}: payments start again from its next date. The payments refused or"
            " missed while it was suspended are not made.",
            ("Resume payments", "Not now"),
            lambda: self.shell.ctrl.resume_standing_order(order.id),
            lambda done: (
                "Standing order resumed"
                + (f": next payment {day_text(done.next_due)}" if done.next_due else "")
            ),
        )

    def _change(self, order: StandingOrderResponse) -> None:
        """A new amount (and reference) for the payments from the next one on."""
        currency = order_currency(order, self.state.accounts)
        amount = ft.TextField(
            label="Amount each time",
            value=major_text(order.amount, currency),
            keyboard_type=ft.KeyboardType.NUMBER,
        )
        reference = ft.TextField(
            label="Reference (optional)", value=order.description, max_length=140
        )
        error = ft.Text("", color=ft.Colors.ERROR, visible=False)

        async def save(ev: ft.Event[ft.Button]) -> None:
            error.visible = False
            minor = _checked(amount, lambda t: positive(parse_major(t, currency)))
            if minor is None:
                self.page.update()
                return
            change = StandingOrderChange(amount=minor, description=(reference.value or "").strip())
            await self._send(
                lambda: self.shell.ctrl.change_standing_order(order.id, change),
                error,
                lambda done: "Standing order changed",
                dialog,
            )

        title, _ = describe(order, self.state.accounts, self.state.payees)
        dialog = ask(
            self.page,
            "Change standing order",
            [
                ft.Text(f"{title}. The new amount is paid from the next payment on."),
                amount,
                reference,
                error,
            ],
            ft.FilledButton("Save", on_click=save),
            cancel="Keep it",  # not "Cancel": beside an order it would read as cancelling it
            width=DIALOG_WIDTH,
        )

    def _ask_then(
        self,
        heading: str,
        sentence: str,
        buttons: tuple[str, str],
        send: Callable[[], Awaitable[StandingOrderResponse]],
        said: Callable[[StandingOrderResponse], str],
    ) -> None:
        """Ask before changing an order; on the bank's answer show the order as it is now,
        or the bank's reason in the dialog."""
        error = ft.Text("", color=ft.Colors.ERROR, visible=False)

        async def confirm(ev: ft.Event[ft.Button]) -> None:
            await self._send(send, error, said, dialog)

        act, keep = buttons
        dialog = ask(
            self.page,
            heading,
            [ft.Text(sentence), error],
            ft.FilledButton(act, on_click=confirm),
            cancel=keep,
        )

    async def _send(
        self,
        send: Callable[[], Awaitable[StandingOrderResponse]],
        error: ft.Text,
        said: Callable[[StandingOrderResponse], str],
        dialog: ft.AlertDialog,
    ) -> None:
        """Send a change of an order from its ``dialog``: on the bank's answer show the
        order as it is now and close the dialog; else the bank's reason in the dialog."""
        try:
            done = await send()
        except (ApiError, Unreachable, SessionExpired) as ex:
            error.value, error.visible = error_text(ex), True
            self.page.update()
            return
        self.orders = [done if o.id == done.id else o for o in self.orders]
        self.render()
        close(dialog)
        snack(self.page, said(done))
        self.page.update()

    def _new_order(self, e: ft.Event[ft.TextButton]) -> None:
        accounts = self.state.open_accounts()
        if not accounts:
            snack(self.page, "Open an account first.")
            return
        form = NewOrderForm(self.page, accounts, date.today(), source=self.account_id)

        async def confirm(ev: ft.Event[ft.Button]) -> None:
            form.error.visible = False
            order = form.order()
            if order is None:
                self.page.update()
                return
            try:
                made = await self.shell.ctrl.create_standing_order(order)
            except (ApiError, Unreachable, SessionExpired) as ex:
                form.error.value, form.error.visible = error_text(ex), True
                self.page.update()
                return
            self.orders.append(made)
            self.render()
            close(dialog)
            snack(self.page, "Standing order set up")
            self.page.update()

        dialog = ask(
            self.page,
            "New standing order",
            form.controls,
            ft.FilledButton("Set up", on_click=confirm),
            width=DIALOG_WIDTH,
            scroll=True,
        )


class NewOrderForm:
    """The fields of a new order, checked on the device before the bank sees them."""

    def __init__(
        self,
        page: ft.Page,
        accounts: list[AccountResponse],
        today: date,
        source: UUID | None = None,
    ) -> None:
        self.page, self.accounts, self.today = page, accounts, today
        first = source if any(a.id == source for a in accounts) else accounts[0].id
        self.source = dropdown(
            "From account",
            width=FIELD_WIDTH,
            value=str(first),
            # name and currency: today's balance says little of a payment made later, and
            # with it the label did not fit the field at phone width ("120.00 EU")
            options=[
                ft.DropdownOption(key=str(a.id), text=f"{a.name} · {a.currency}") for a in accounts
            ],
        )
        self.to = ft.TextField(label="To account number")
        self.amount = ft.TextField(label="Amount each time", keyboard_type=ft.KeyboardType.NUMBER)
        self.how = dropdown(
            "How often",
            width=FIELD_WIDTH,
            value="monthly",
            options=[ft.DropdownOption(key=k, text=v) for k, v in FREQUENCIES.items()],
            on_select=self._on_how,
        )
        self.first = ft.TextField(
            label="First payment (YYYY-MM-DD)", value=(today + timedelta(days=1)).isoformat()
        )
        self.count = ft.TextField(
            label="Number of payments",
            value=DEFAULT_PAYMENTS,
            keyboard_type=ft.KeyboardType.NUMBER,
        )
        self.reference = ft.TextField(label="Reference (optional)", max_length=140)
        self.error = ft.Text("", color=ft.Colors.ERROR, visible=False)
        self.controls: list[ft.Control] = [
            self.source,
            self.to,
            self.amount,
            self.how,
            self.first,
            self.count,
            self.reference,
            self.error,
        ]

    def _on_how(self, e: ft.Event[ft.Dropdown]) -> None:
        self.count.visible = self.how.value != "once"
        self.page.update()

    def order(self) -> StandingOrderByNumberRequest | None:
        """The order as typed, or None after saying on each field what is wrong."""
        frequency = cast(Frequency, self.how.value or "monthly")
        chosen = next((a for a in self.accounts if str(a.id) == self.source.value), None)
        chosen = chosen or self.accounts[0]
        self.to.error = shape_problem(self.to.value or "")
        minor = _checked(self.amount, lambda t: positive(parse_major(t, chosen.currency)))
        start = _checked(self.first, lambda t: first_date(t, self.today))
        n = _checked(self.count, lambda t: payments(t, frequency))
        if self.to.error or self.amount.error or self.first.error or self.count.error:
            return None
        assert minor is not None and start is not None
        return StandingOrderByNumberRequest(
            from_account=str(chosen.id),
            to_account_number=grouped(self.to.value or ""),
            amount=minor,
            frequency=frequency,
            start_date=start,
            count=n,
            description=(self.reference.value or "").strip(),
        )


def positive(minor: int) -> int:
    if minor <= 0:
        raise ValueError("Enter an amount greater than zero")
    return minor


def _checked(field: ft.TextField, parse: Callable[[str], T]) -> T | None:
    """``parse`` of the field's text; on a ValueError its message goes on the field."""
    field.error = None
    try:
        return parse(field.value or "")
    except ValueError as e:
        field.error = str(e)
        return None
