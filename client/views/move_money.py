"""Move money: deposit, withdraw, transfer; amount in major units, confirmation, result."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeGuard, cast
from uuid import UUID

import flet as ft

from client.state import MovementKind, QueuedMovement, Topic
from client.views.common import KIND_LABEL, account_label, amount_text, money, short_id
from shared.api import AccountResponse
from shared.money import parse_major

if TYPE_CHECKING:
    from client.views.shell import Shell

VERBS: dict[MovementKind, str] = {
    "deposit": "Deposit",
    "withdrawal": "Withdraw",
    "transfer": "Transfer",
}


def is_movement_kind(value: str) -> TypeGuard[MovementKind]:
    return value in VERBS


class MoveMoneyScreen:
    def __init__(self, shell: Shell, kind: str = "deposit", account_id: UUID | None = None) -> None:
        self.shell = shell
        self.page = shell.page
        self.state = shell.state
        self.kind: MovementKind = kind if is_movement_kind(kind) else "deposit"
        accounts = self._accounts()
        chosen = (
            account_id
            if account_id in self.state.accounts
            else (accounts[0].id if accounts else None)
        )

        self.kind_picker = ft.SegmentedButton(
            segments=[ft.Segment(value=k, label=ft.Text(v)) for k, v in VERBS.items()],
            selected=[self.kind],
            on_change=self._on_kind,
        )
        self.account = ft.Dropdown(
            label="Account",
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
        self.result = ft.Container(visible=False, border_radius=16, padding=16)
        self.form = ft.Column(
            [
                self.kind_picker,
                ft.Row([self.account]),
                self.recipient,
                self.own_targets,
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
        self.control = ft.Container(
            ft.Column(
                [
                    ft.Text("Move money", theme_style=ft.TextThemeStyle.HEADLINE_SMALL),
                    empty,
                    self.form,
                    self.result,
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

    # --- helpers ----------------------------------------------------------------------

    def _accounts(self) -> list[AccountResponse]:
        return sorted(
            self.state.accounts.values(), key=lambda a: (a.opened_at is None, a.opened_at)
        )

    def _source(self) -> AccountResponse | None:
        try:
            return self.state.accounts.get(UUID(self.account.value or ""))
        except ValueError:
            return None

    def _render(self) -> None:
        transfer = self.kind == "transfer"
        self.account.label = "From account" if transfer else "Account"
        self.recipient.visible = transfer
        source = self._source()
        others = [a for a in self._accounts() if source is None or a.id != source.id]
        self.own_targets.visible = transfer and bool(others)
        self.own_targets.controls = [
            ft.ActionChip(
                label=ft.Text(f"To my {a.name}"),
                leading=ft.Icon(ft.Icons.ACCOUNT_BALANCE_WALLET_OUTLINED),
                on_click=lambda e, aid=a.id: self._pick_target(aid),
            )
            for a in others
        ]
        self.amount.suffix = ft.Text(source.currency if source else "")
        self.amount.prefix_icon = None
        self.offline_note.visible = not self.state.online

    def _pick_target(self, account_id: UUID) -> None:
        self.recipient.value = str(account_id)
        self.page.update()

    def _on_kind(self, e: ft.Event[ft.SegmentedButton]) -> None:
        # The picker's segments are the keys of VERBS.
        self.kind = cast(MovementKind, (e.control.selected or ["deposit"])[0])
        self.result.visible = False
        self._render()
        self.page.update()

    def on_state(self, topic: Topic, payload: object) -> None:
        if topic in ("accounts", "connection"):
            for opt in self.account.options:
                a = self.state.accounts.get(UUID(opt.key)) if opt.key else None
                if a is not None:
                    opt.text = account_label(a)
            self._render()

    # --- submit -----------------------------------------------------------------------

    def _validate(self) -> tuple[AccountResponse, int, UUID | None] | None:
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
        target: UUID | None = None
        if self.kind == "transfer":
            try:
                target = UUID((self.recipient.value or "").strip())
            except ValueError:
                self.recipient.error = "Enter the recipient's account number"
                return None
            if target == source.id:
                self.recipient.error = "Choose a different account than the one you pay from"
                return None
        return source, amount, target

    def _continue(self, e: ft.Event[ft.TextField] | ft.Event[ft.Button]) -> None:
        checked = self._validate()
        if checked is None:
            self.page.update()
            return
        source, amount, target = checked
        rows = [
            ("Amount", amount_text(amount, source.currency)),
            (
                "From" if self.kind != "deposit" else "Into",
                f"{source.name} ({short_id(source.id)})",
            ),
        ]
        if target is not None:
            mine = self.state.accounts.get(target)
            rows.append(("To", f"{mine.name} ({short_id(target)})" if mine else str(target)))
        if self.description.value:
            rows.append(("Description", self.description.value))
        note: list[ft.Control] = (
            [
                ft.Text(
                    "Offline: it will be queued and sent later.", color=ft.Colors.TERTIARY, size=12
                )
            ]
            if not self.state.online
            else []
        )

        async def confirm(ev: ft.Event[ft.Button]) -> None:
            self.page.pop_dialog()
            await self._submit(source, amount, target)

        self.page.show_dialog(
            ft.AlertDialog(
                modal=True,
                title=ft.Text(f"Confirm {VERBS[self.kind].lower()}"),
                content=ft.Column(
                    [
                        ft.Row(
                            [
                                ft.Text(k, color=ft.Colors.ON_SURFACE_VARIANT),
                                ft.Text(v, weight=ft.FontWeight.W_600),
                            ],
                            alignment=ft.MainAxisAlignment.SPACE_BETWEEN,
                        )
                        for k, v in rows
                    ]
                    + note,
                    tight=True,
                    spacing=12,
                    width=340,
                ),
                actions=[
                    ft.TextButton("Cancel", on_click=lambda ev: self.page.pop_dialog()),
                    ft.FilledButton("Confirm", on_click=confirm),
                ],
            )
        )

    async def _submit(self, source: AccountResponse, amount: int, target: UUID | None) -> None:
        self._show_result(ft.Colors.SURFACE_CONTAINER_HIGHEST, ft.Icons.SYNC, "Sending…", "")
        self.page.update()
        item = await self.shell.ctrl.move(
            self.kind, source, amount, (self.description.value or "").strip(), target
        )
        self._show_outcome(item)
        if item.status != "rejected":
            self.amount.value = ""
            self.description.value = ""
        self.page.update()

    def _show_outcome(self, item: QueuedMovement) -> None:
        what = f"{KIND_LABEL[item.kind]} of {amount_text(item.amount, item.currency)}"
        if item.status == "done":
            balance = money(item.balance_after) if item.balance_after else ""
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
