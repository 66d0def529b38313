"""Move money: deposit, withdraw, transfer; amount in major units, confirmation, result.

A transfer goes to one of the customer's own accounts (by id, as before) or to an
account number: a saved payee picked from the list, one just added (with the bank's
confirmation of payee shown in words), or a number typed."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple, TypeGuard, cast
from uuid import UUID

import flet as ft

from client.account_numbers import compact, grouped, shape_problem
from client.api import ApiError, SessionExpired, Unreachable
from client.balances import after_movement
from client.filled_in import FilledIn
from client.payees import MatchMessage, match_message
from client.state import MovementKind, QueuedMovement, Topic
from client.views.common import (
    KIND_LABEL,
    account_label,
    account_number_text,
    ask,
    close,
    dropdown,
    error_text,
    relabel,
    section_title,
    take_submitted,
)
from client.views.standing_orders import StandingOrdersSection
from shared.api import AccountResponse, PayeeResponse
from shared.money import money_text, parse_major

if TYPE_CHECKING:
    from client.views.shell import Shell

VERBS: dict[MovementKind, str] = {
    "deposit": "Deposit",
    "withdrawal": "Withdraw",
    "transfer": "Transfer",
}


TONE_COLORS = {
    "good": (ft.Colors.SECONDARY_CONTAINER, ft.Icons.VERIFIED_OUTLINED),
    "warn": (ft.Colors.TERTIARY_CONTAINER, ft.Icons.WARNING_AMBER),
    "bad": (ft.Colors.ERROR_CONTAINER, ft.Icons.GPP_BAD_OUTLINED),
}


def is_movement_kind(value: str) -> TypeGuard[MovementKind]:
    return value in VERBS


def match_box(m: MatchMessage) -> ft.Container:
    """The confirmation-of-payee answer, in words and a colour."""
    bg, icon = TONE_COLORS[m.tone]
    return ft.Container(
        ft.Row(
            [
                ft.Icon(icon),
                ft.Column(
                    [ft.Text(m.title, weight=ft.FontWeight.W_600), ft.Text(m.detail, size=12)],
                    spacing=2,
                    expand=True,
                ),
            ],
            spacing=12,
        ),
        bgcolor=bg,
        border_radius=12,
        padding=12,
    )


class Target(NamedTuple):
    """Where a transfer goes: one of the customer's accounts, or an account number."""

    account_id: UUID | None
    account_number: str | None
    name: str


class MoveMoneyScreen:
    def __init__(
        self,
        shell: Shell,
        kind: str = "deposit",
        account_id: UUID | None = None,
        filled: FilledIn | None = None,
    ) -> None:
        self.shell = shell
        self.page = shell.page
        self.state = shell.state
        kinds = self.state.movement_kinds()
        self.kind: MovementKind = kind if is_movement_kind(kind) and kind in kinds else "transfer"
        accounts = self.state.open_accounts()
        account_id = filled.account_id if filled else account_id
        chosen = (
            account_id
            if any(a.id == account_id for a in accounts)
            else (accounts[0].id if accounts else None)
        )

        self.kind_picker = ft.SegmentedButton(
            segments=[ft.Segment(value=k, label=ft.Text(VERBS[k])) for k in kinds],
            selected=[self.kind],
            on_change=self._on_kind,
        )
        self.account = dropdown(
            "Account",
            value=str(chosen) if chosen else None,
            options=[ft.DropdownOption(key=str(a.id), text=account_label(a)) for a in accounts],
            on_select=lambda e: self._render(),
            expand=True,
        )
        self.recipient = ft.TextField(
            label="Recipient account number",
            prefix_icon=ft.Icons.PERSON_OUTLINE,
        )
        self.own_targets = ft.Row(wrap=True, spacing=8)
        self.payee_chips = ft.Row(wrap=True, spacing=8)
        self.payee_note = ft.Text("", size=12, color=ft.Colors.ON_SURFACE_VARIANT)
        self.payee_section = ft.Column(
            [
                ft.Row(
                    [
                        section_title("Payees"),
                        ft.TextButton(
                            "Add payee", icon=ft.Icons.PERSON_ADD_OUTLINED, on_click=self._add_payee
                        ),
                    ],
                    alignment=ft.MainAxisAlignment.SPACE_BETWEEN,
                ),
                self.payee_chips,
                self.payee_note,
            ],
            spacing=8,
        )
        self.amount = ft.TextField(
            label="Amount",
            keyboard_type=ft.KeyboardType.NUMBER,
            prefix_icon=ft.Icons.EURO,
            on_submit=self._continue,
        )
        self.description = ft.TextField(label="Description (optional)", max_length=140)
        self.offline_note = ft.Text(
            "You are offline: this payment will be queued on this device and sent when the "
            "connection returns.",
            color=ft.Colors.TERTIARY,
            size=12,
        )
        if filled is not None:  # checked and confirmed like any payment before it goes
            self.recipient.value = filled.to_account_number
            self.amount.value = filled.amount
            self.description.value = filled.description
        self.result = ft.Container(visible=False, border_radius=16, padding=16)
        self.form = ft.Column(
            [
                self.kind_picker,
                ft.Row([self.account]),
                self.payee_section,
                self.own_targets,
                self.recipient,
                self.amount,
                self.description,
                self.offline_note,
                ft.Row(
                    [
                        ft.FilledButton(
                            "Continue", icon=ft.Icons.ARROW_FORWARD, on_click=self._continue
                        )
                    ]
                ),
            ],
            spacing=16,
            horizontal_alignment=ft.CrossAxisAlignment.STRETCH,
        )
        empty = ft.Column(
            [
                ft.Text("Open an account first to move money.", color=ft.Colors.ON_SURFACE_VARIANT),
                ft.FilledTonalButton("Go to accounts", on_click=lambda e: shell.go_tab(0)),
            ],
            visible=not accounts,
        )
        self.form.visible = bool(accounts)
        self.standing_orders = StandingOrdersSection(shell)
        self.standing_orders.control.visible = bool(accounts)
        self.control = ft.Container(
            ft.Column(
                [
                    ft.Text("Move money", theme_style=ft.TextThemeStyle.HEADLINE_SMALL),
                    empty,
                    self.form,
                    self.result,
                    self.standing_orders.control,
                ],
                spacing=16,
                scroll=ft.ScrollMode.AUTO,
                expand=True,
                horizontal_alignment=ft.CrossAxisAlignment.STRETCH,
            ),
            padding=16,
            expand=True,
            width=560,
        )
        self._render()
        if self.state.online:
            self.shell.ctrl.spawn(self._load_payees())
            if accounts:
                self.shell.ctrl.spawn(self.standing_orders.load())

    # --- helpers ----------------------------------------------------------------------

    def _source(self) -> AccountResponse | None:
        try:
            return self.state.accounts.get(UUID(self.account.value or ""))
        except ValueError:
            return None

    def _render(self) -> None:
        transfer = self.kind == "transfer"
        relabel(self.account, "From account" if transfer else "Account")
        self.recipient.visible = transfer
        self.payee_section.visible = transfer
        source = self._source()
        others = [
            a
            for a in self.state.open_accounts()
            if (source is None or a.id != source.id) and a.account_number
        ]
        self.own_targets.visible = transfer and bool(others)
        self.own_targets.controls = [
            ft.Chip(
                label=ft.Text(f"To my {a.name}"),
                leading=ft.Icon(ft.Icons.ACCOUNT_BALANCE_WALLET_OUTLINED),
                on_click=lambda e, n=a.account_number: self._pick_target(n),
            )
            for a in others
        ]
        self._render_payees()
        self.amount.suffix = ft.Text(source.currency if source else "")
        self.amount.prefix_icon = None
        self.offline_note.visible = not self.state.online

    def _render_payees(self) -> None:
        self.payee_chips.controls = [
            ft.Chip(
                label=ft.Text(f"Pay {p.nickname}"),
                leading=ft.Icon(ft.Icons.PERSON_OUTLINE),
                on_click=lambda e, n=p.account_number: self._pick_target(n),
                delete_icon_tooltip=f"Forget {p.nickname}",
                on_delete=lambda e, p=p: self._forget_payee(p),
            )
            for p in self.state.payees
        ]
        if not self.state.payees:
            self.payee_note.value = "No payees yet: add one to pay someone by account number."
        else:
            self.payee_note.value = ""
        self.payee_note.visible = bool(self.payee_note.value)

    async def _load_payees(self) -> None:
        try:
            await self.shell.ctrl.load_payees()
        except (ApiError, SessionExpired) as e:
            self.payee_note.value = error_text(e)
            self.payee_note.visible = True
            self.page.update()

    def _pick_target(self, account_number: str | None) -> None:
        self.recipient.value = grouped(account_number or "")
        self.recipient.error = None
        self.page.update()

    def _payee(self, number: str) -> PayeeResponse | None:
        c = compact(number)
        return next((p for p in self.state.payees if compact(p.account_number) == c), None)

    def _target(self, text: str) -> Target:
        """The account named by the recipient field: own accounts by id, anyone else
        by number (a saved payee's nickname shown where it is one)."""
        c = compact(text)
        for a in self.state.accounts.values():
            if a.account_number and compact(a.account_number) == c:
                return Target(a.id, None, f"my {a.name}")
        payee = self._payee(text)
        return Target(None, grouped(text), payee.nickname if payee else "")

    def _on_kind(self, e: ft.Event[ft.SegmentedButton]) -> None:
        # The picker's segments are the keys of VERBS.
        self.kind = cast(MovementKind, (e.control.selected or ["deposit"])[0])
        self.result.visible = False
        self._render()
        self.page.update()

    def on_state(self, topic: Topic, payload: object) -> None:
        if topic in ("payees", "accounts"):  # the orders name accounts by name or nickname
            self.standing_orders.render()
        if topic == "payees":
            self._render_payees()
        elif topic in ("accounts", "connection"):
            for opt in self.account.options:
                a = self.state.accounts.get(UUID(opt.key)) if opt.key else None
                if a is not None:
                    opt.text = account_label(a)
            self._render()

    # --- submit -----------------------------------------------------------------------

    def _validate(self) -> tuple[AccountResponse, int, Target | None] | None:
        self.amount.error = self.recipient.error = None
        self.account.error_text = None  # a Dropdown's message is error_text, a TextField's error
        source = self._source()
        if source is None:
            self.account.error_text = "Choose an account"
            return None
        try:
            amount = parse_major(self.amount.value or "", source.currency)
            if amount <= 0:
                raise ValueError("Enter an amount greater than zero")
        except ValueError as e:
            self.amount.error = str(e)
            return None
        target: Target | None = None
        if self.kind == "transfer":
            text = self.recipient.value or ""
            problem = shape_problem(text)
            if problem:
                self.recipient.error = problem
                return None
            target = self._target(text)
            if target.account_id == source.id:
                self.recipient.error = "Choose a different account than the one you pay from"
                return None
        return source, amount, target

    def _continue(self, e: ft.Event[ft.TextField] | ft.Event[ft.Button]) -> None:
        take_submitted(e)
        checked = self._validate()
        if checked is None:
            self.page.update()
            return
        source, amount, target = checked
        rows = [
            ("Amount", money_text(amount, source.currency)),
            ("From" if self.kind != "deposit" else "Into", source.name),
        ]
        warning: list[ft.Control] = []
        if target is not None:
            mine = self.state.accounts.get(target.account_id) if target.account_id else None
            number = account_number_text(mine) if mine else target.account_number or ""
            rows.append(("To", f"{target.name} ({number})" if target.name else number))
            payee = self._payee(number)
            if payee is not None and payee.name_match != "match":
                warning.append(match_box(match_message(payee.name_match)))
        if self.description.value:
            rows.append(("Description", self.description.value))
        note: list[ft.Control] = warning + (
            [
                ft.Text(
                    "Offline: it will be queued and sent later.", color=ft.Colors.TERTIARY, size=12
                )
            ]
            if not self.state.online
            else []
        )

        async def confirm(ev: ft.Event[ft.Button]) -> None:
            close(dialog)
            await self._submit(source, amount, target)

        lines: list[ft.Control] = [
            ft.Row(
                [
                    ft.Text(k, color=ft.Colors.ON_SURFACE_VARIANT),
                    ft.Text(v, weight=ft.FontWeight.W_600),
                ],
                alignment=ft.MainAxisAlignment.SPACE_BETWEEN,
            )
            for k, v in rows
        ]
        dialog = ask(
            self.page,
            f"Confirm {VERBS[self.kind].lower()}",
            lines + note,
            ft.FilledButton("Confirm", on_click=confirm),
            width=340,
            modal=True,
        )

    async def _submit(self, source: AccountResponse, amount: int, target: Target | None) -> None:
        self._show_result(ft.Colors.SURFACE_CONTAINER_HIGHEST, ft.Icons.SYNC, "Sending…", "")
        self.page.update()
        item = await self.shell.ctrl.move(
            self.kind,
            source,
            amount,
            (self.description.value or "").strip(),
            to_account_id=target.account_id if target else None,
            to_account_number=target.account_number if target else None,
            to_name=target.name if target else "",
        )
        self._show_outcome(item)
        if item.status != "rejected":
            self.amount.value = ""
            self.description.value = ""
        self.page.update()

    def _show_outcome(self, item: QueuedMovement) -> None:
        what = f"{KIND_LABEL[item.kind]} of {money_text(item.amount, item.currency)}"
        if item.to_name:
            what = f"{what} to {item.to_name}"
        if item.status == "done":
            balance = (
                after_movement(item.balance_after, item.available_after)
                if item.balance_after
                else ""
            )
            self._show_result(
                ft.Colors.SECONDARY_CONTAINER,
                ft.Icons.CHECK_CIRCLE,
                f"{what} done",
                f"New balance {balance}",
            )
        elif item.status == "rejected":
            self._show_result(
                ft.Colors.ERROR_CONTAINER, ft.Icons.ERROR_OUTLINE, f"{what} refused", item.reason
            )
        else:
            self._show_result(
                ft.Colors.TERTIARY_CONTAINER,
                ft.Icons.SCHEDULE,
                f"{what} queued",
                "Saved on this device; it will be sent when the connection returns.",
            )

    def _show_result(self, bg: str, icon: ft.IconData, title: str, detail: str) -> None:
        self.result.bgcolor = bg
        self.result.content = ft.Row(
            [
                ft.Icon(icon),
                ft.Column(
                    [ft.Text(title, weight=ft.FontWeight.W_600), ft.Text(detail, size=13)],
                    spacing=2,
                    expand=True,
                ),
            ],
            spacing=12,
        )
        self.result.visible = True

    # --- payees -------------------------------------------------------------------------

    def _forget_payee(self, payee: PayeeResponse) -> None:
        error = ft.Text("", color=ft.Colors.ERROR, visible=False)

        async def forget(ev: ft.Event[ft.Button]) -> None:
            try:
                await self.shell.ctrl.forget_payee(payee.account_number)
            except (ApiError, Unreachable, SessionExpired) as ex:
                error.value, error.visible = error_text(ex), True
                self.page.update()
                return
            close(dialog)
            self.page.update()

        dialog = ask(
            self.page,
            f"Forget {payee.nickname}?",
            [ft.Text(f"{payee.account_number} leaves your payees."), error],
            ft.FilledButton("Forget", on_click=forget),
            cancel="Keep",
            spacing=10,
        )

    def _add_payee(self, e: ft.Event[ft.TextButton]) -> None:
        """Add a payee: the bank says whether the name matches (never the real name);
        the answer stays on screen, and the new payee is picked for this payment."""
        number = ft.TextField(label="Payee account number", autofocus=True)
        holder = ft.TextField(label="Name on the account")
        nickname = ft.TextField(label="Nickname", max_length=60)
        answer = ft.Column(visible=False, tight=True)
        error = ft.Text("", color=ft.Colors.ERROR, visible=False)
        add = ft.FilledButton("Check and save")
        dialog: ft.AlertDialog  # built below, closed by its buttons
        done = ft.TextButton("Done", visible=False, on_click=lambda ev: close(dialog))
        cancel = ft.TextButton("Cancel", on_click=lambda ev: close(dialog))

        def checked() -> bool:
            number.error = shape_problem(number.value or "")
            holder.error = None if (holder.value or "").strip() else "Enter the name on the account"
            nickname.error = None if (nickname.value or "").strip() else "Give the payee a nickname"
            return not (number.error or holder.error or nickname.error)

        async def submit(ev: ft.Event[ft.Button]) -> None:
            error.visible = False
            if not checked():
                self.page.update()
                return
            try:
                payee = await self.shell.ctrl.add_payee(
                    grouped(number.value or ""),
                    (holder.value or "").strip(),
                    (nickname.value or "").strip(),
                )
            except (ApiError, Unreachable, SessionExpired) as ex:
                error.value, error.visible = error_text(ex), True
                self.page.update()
                return
            answer.controls = [
                ft.Text(f"{payee.nickname} · {payee.account_number}", size=12),
                match_box(match_message(payee.name_match)),
            ]
            answer.visible = True
            for f in (number, holder, nickname):
                f.disabled = True
            add.visible, cancel.visible, done.visible = False, False, True
            self._pick_target(payee.account_number)

        add.on_click = submit
        dialog = ft.AlertDialog(
            modal=True,
            title=ft.Text("Add a payee"),
            content=ft.Column(
                [
                    number,
                    holder,
                    ft.Text(
                        "We check the name with the payee's bank and tell you whether it "
                        "matches; we never show the name on the account.",
                        size=12,
                        color=ft.Colors.ON_SURFACE_VARIANT,
                    ),
                    nickname,
                    error,
                    answer,
                ],
                tight=True,
                spacing=12,
                width=340,
                scroll=ft.ScrollMode.AUTO,
            ),
            actions=[cancel, add, done],
        )
        self.page.show_dialog(dialog)
