"""Home: totals per currency, the accounts, queued payments and recent activity."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import TYPE_CHECKING
from uuid import UUID

import flet as ft

from client.api import ApiError, SessionExpired, Unreachable
from client.balances import after_movement, available_of, differs
from client.history import known_after_push, moved_past, posting_key, with_pushed
from client.standing_orders import (
    paying_versions,
    suspended,
    suspended_line,
    upcoming,
    upcoming_line,
)
from client.state import QueuedMovement, Topic
from client.views.common import (
    CURRENCIES,
    KIND_ICON,
    KIND_LABEL,
    account_name_field,
    account_name_of,
    account_number_text,
    ask,
    close,
    dropdown,
    error_text,
    money,
    section_title,
)
from client.views.transaction_details import history_tile
from shared.api import AccountResponse, TransactionResponse
from shared.money import money_text
from shared.notifications import Notification
from shared.standing_orders import StandingOrderResponse
from shared.words import moment_text

if TYPE_CHECKING:
    from client.views.shell import Shell

RECENT = 6  # postings in Recent activity, over every account


def status_chip(shell: Shell) -> ft.Control:
    s = shell.state
    if not s.online:
        text, icon, color = "Offline", ft.Icons.CLOUD_OFF, ft.Colors.TERTIARY
    elif s.live:
        text, icon, color = "Live", ft.Icons.BOLT, ft.Colors.GREEN_700
    else:
        text, icon, color = "Online", ft.Icons.CLOUD_DONE_OUTLINED, ft.Colors.PRIMARY
    return ft.Row(
        [ft.Icon(icon, size=16, color=color), ft.Text(text, size=12, color=color)],
        spacing=4,
        tight=True,
    )


def queue_tile(item: QueuedMovement, shell: Shell) -> ft.ListTile:
    status = {
        "pending": ("Pending: waiting for the connection", ft.Icons.SCHEDULE, ft.Colors.TERTIARY),
        "sending": ("Sending…", ft.Icons.SYNC, ft.Colors.PRIMARY),
        "done": ("Done", ft.Icons.CHECK_CIRCLE, ft.Colors.GREEN_700),
        "rejected": ("Rejected", ft.Icons.ERROR_OUTLINE, ft.Colors.ERROR),
    }[item.status]
    detail = status[0]
    if item.status == "done" and item.balance_after is not None:
        detail = f"Done · new balance {after_movement(item.balance_after, item.available_after)}"
    elif item.status == "rejected":
        detail = f"Rejected: {item.reason}"
    account = shell.state.accounts.get(item.account_id)
    where = account.name if account else "An account"
    if item.to_name:
        where = f"{where} → {item.to_name}"
    return ft.ListTile(
        leading=ft.Icon(status[1], color=status[2]),
        title=ft.Text(f"{KIND_LABEL[item.kind]} {money_text(item.amount, item.currency)}"),
        subtitle=ft.Text(f"{where} · {detail}", size=12),
        trailing=ft.Icon(KIND_ICON[item.kind], size=18),
        dense=True,
    )


class DashboardScreen:
    def __init__(self, shell: Shell) -> None:
        self.shell = shell
        self.page = shell.page
        self.state = shell.state
        self.header = ft.Row(alignment=ft.MainAxisAlignment.SPACE_BETWEEN)
        self.totals = ft.Container(
            bgcolor=ft.Colors.PRIMARY_CONTAINER, border_radius=24, padding=20
        )
        self.accounts = ft.Column(spacing=8)
        self.queue = ft.Column(spacing=0)
        self.queue_section = ft.Column(visible=False)
        self.upcoming = ft.Column(spacing=0)
        self.upcoming_section = ft.Column(
            [section_title("Upcoming"), self.upcoming], spacing=8, visible=False
        )
        self.orders: list[StandingOrderResponse] = []
        self._payers_seen: dict[UUID, int] = {}  # paying accounts' versions at the last load
        self._loading_orders: asyncio.Task[None] | None = None
        self._refused_since_asked = False  # a payment_refused pushed since the orders were asked
        self.recent = ft.Column(spacing=0)
        self.recent_items: list[TransactionResponse] = []
        self.recent_note = ft.Text("", size=12, color=ft.Colors.ON_SURFACE_VARIANT)
        self._loading: asyncio.Task[None] | None = None
        # accounts' versions Recent activity knows of (asked at, or pushed since); None: ask
        self._recent_known: dict[UUID, int] | None = None
        self.control: ft.Control = ft.Column(
            [
                self.header,
                self.totals,
                ft.Row(
                    [
                        section_title("Your accounts"),
                        ft.FilledTonalButton(
                            "Open account", icon=ft.Icons.ADD, on_click=self._open_dialog
                        ),
                    ],
                    alignment=ft.MainAxisAlignment.SPACE_BETWEEN,
                ),
                self.accounts,
                self.queue_section,
                self.upcoming_section,
                section_title("Recent activity"),
                self.recent_note,
                self.recent,
            ],
            spacing=16,
            scroll=ft.ScrollMode.AUTO,
            expand=True,
            horizontal_alignment=ft.CrossAxisAlignment.STRETCH,
        )
        self.queue_section.controls = [
            ft.Row(
                [
                    section_title("Queued on this device"),
                    ft.TextButton("Clear finished", on_click=self._clear_finished),
                ],
                alignment=ft.MainAxisAlignment.SPACE_BETWEEN,
            ),
            ft.Card(ft.Container(self.queue, padding=ft.Padding.symmetric(vertical=4))),
        ]
        self.wrapper = ft.Container(self.control, padding=16, expand=True, width=720)
        self.control = self.wrapper
        self._render_all()
        self._load_recent()
        self._load_orders()

    # --- rendering --------------------------------------------------------------------

    def _render_all(self) -> None:
        self._render_header()
        self._render_totals()
        self._render_accounts()
        self._render_queue()
        self._render_upcoming()
        self._render_recent()

    def _render_header(self) -> None:
        name = self.state.full_name.strip()
        self.header.controls = [
            ft.Column(
                [
                    ft.Text(
                        f"Hello, {name}" if name else "Hello",
                        theme_style=ft.TextThemeStyle.HEADLINE_SMALL,
                    ),
                    ft.Text(self.state.email or "", size=12, color=ft.Colors.ON_SURFACE_VARIANT),
                ],
                spacing=0,
                expand=True,
            ),
            status_chip(self.shell),
        ]

    def _render_totals(self) -> None:
        totals = self.state.totals()
        rows: list[ft.Control] = [
            ft.Text("Total balance", color=ft.Colors.ON_PRIMARY_CONTAINER, size=13)
        ]
        if not totals:
            rows.append(ft.Text("No accounts yet", size=22, color=ft.Colors.ON_PRIMARY_CONTAINER))
        for currency, amount in sorted(totals.items()):
            rows.append(
                ft.Text(
                    money_text(amount, currency),
                    size=30,
                    weight=ft.FontWeight.BOLD,
                    color=ft.Colors.ON_PRIMARY_CONTAINER,
                )
            )
        if self.state.as_of is not None:
            rows.append(
                ft.Text(f"As of {moment_text(self.state.as_of)} (kept on this device)", size=12)
            )
        elif not self.state.online:
            rows.append(ft.Text("Last known balance (offline)", size=12))
        self.totals.content = ft.Column(rows, spacing=4)

    def _account_card(self, a: AccountResponse) -> ft.Control:
        status = "" if a.status == "active" else f" · {a.status.capitalize()}"
        figure: ft.Control = ft.Text(money(a.balance), size=16, weight=ft.FontWeight.W_600)
        if differs(a, known=a.id not in self.state.available_unknown):
            figure = ft.Column(
                [
                    ft.Text(
                        f"Available {money(available_of(a))}", size=15, weight=ft.FontWeight.W_600
                    ),
                    ft.Text(f"Balance {money(a.balance)}", size=11),
                ],
                spacing=0,
                tight=True,
                horizontal_alignment=ft.CrossAxisAlignment.END,
            )
        return ft.Card(
            ft.ListTile(
                leading=ft.CircleAvatar(
                    content=ft.Text(a.currency, size=11, weight=ft.FontWeight.BOLD),
                    bgcolor=ft.Colors.SECONDARY_CONTAINER,
                ),
                title=ft.Text(a.name, weight=ft.FontWeight.W_600),
                subtitle=ft.Text(f"{account_number_text(a)}{status}", size=12),
                trailing=figure,
                on_click=lambda e, aid=a.id: self.shell.open_account(aid),
            ),
            margin=0,
        )

    def _render_accounts(self) -> None:
        items = self.state.accounts_in_order()
        if not items:
            self.accounts.controls = [
                ft.Text(
                    "Open your first account to get started.", color=ft.Colors.ON_SURFACE_VARIANT
                )
            ]
        else:
            self.accounts.controls = [self._account_card(a) for a in items]

    def _render_queue(self) -> None:
        items = [q for q in self.state.my_queue() if q.deferred]
        self.queue_section.visible = bool(items)
        self.queue.controls = [queue_tile(q, self.shell) for q in reversed(items)]

    def _render_upcoming(self) -> None:
        """The suspended standing orders, then the payments due within a week; a tap opens
        the paying account (where an order is resumed or cancelled)."""
        today = date.today()
        accounts, payees = self.state.accounts, self.state.payees
        lines = [(o, suspended_line(o, accounts, payees)) for o in suspended(self.orders)]
        lines += [
            (o, upcoming_line(o, accounts, payees, today)) for o in upcoming(self.orders, today)
        ]
        self.upcoming.controls = [self._upcoming_tile(o, *line) for o, line in lines]
        self.upcoming_section.visible = bool(lines)

    def _upcoming_tile(self, order: StandingOrderResponse, title: str, detail: str) -> ft.Control:
        stopped = order.status == "suspended"
        return ft.ListTile(
            leading=ft.Icon(ft.Icons.ERROR_OUTLINE if stopped else ft.Icons.EVENT_REPEAT),
            title=ft.Text(title),
            subtitle=ft.Text(detail, size=12, color=ft.Colors.ERROR if stopped else None),
            on_click=lambda e, aid=order.from_account_id: self.shell.open_account(aid),
            dense=True,
        )

    def _render_recent(self) -> None:
        self.recent.controls = [history_tile(self.shell, t) for t in self.recent_items[:RECENT]]
        if not self.recent_items and not self.recent_note.value:
            self.recent_note.value = "No transactions yet."
        self.recent_note.visible = bool(self.recent_note.value)

    # --- data --------------------------------------------------------------------------

    def _load_recent(self) -> None:
        """Ask for Recent activity when Home opens, and again only when an account moved
        past what the list knows (a change whose posting was not pushed: polling, a
        payment from this device): a push that carries its posting asks nothing."""
        if self._loading is not None and not self._loading.done():
            return
        known = self._recent_known
        if known is not None and not moved_past(self.state.accounts.values(), known):
            return
        self._loading = asyncio.get_running_loop().create_task(self._fetch_recent())

    def _load_orders(self) -> None:
        """Load the standing orders when Home opens, and again only when an account an
        order pays from has moved on (a payment the bank made moves the order's next
        date) or the bank refused a payment since they were asked for (that moves the
        next date too, or suspends the order, and moves no account): a deposit pushed to
        another account asks the bank nothing."""
        if not self.state.online or not self.state.accounts:
            return
        if self._loading_orders is not None:
            if not self._loading_orders.done():
                return
            moved = paying_versions(self.orders, self.state.accounts) != self._payers_seen
            if not (moved or self._refused_since_asked):
                return
        self._loading_orders = asyncio.get_running_loop().create_task(self._fetch_orders())

    async def _fetch_orders(self) -> None:
        asked_at = self.state.last_versions()  # a change while the bank answers: ask again
        self._refused_since_asked = False
        try:
            found = await self.shell.ctrl.standing_orders()
        except (ApiError, Unreachable, SessionExpired):
            self._loading_orders = None  # asked again with the next change
            return  # Upcoming stays as it was; Payments says what went wrong
        self.orders = found or []  # None: a bank without standing orders
        self._payers_seen = {
            a: asked_at.get(a, 0) for a in paying_versions(self.orders, self.state.accounts)
        }
        self._render_upcoming()
        self.page.update()
        # a paying account that moved while the bank answered: once more, after this task
        asyncio.get_running_loop().call_soon(self._load_orders)

    async def _fetch_recent(self) -> None:
        self._recent_known = {a.id: a.version for a in self.state.accounts.values()}
        shown = {posting_key(t) for t in self.recent_items}
        try:
            items = await self.shell.ctrl.recent_transactions(RECENT)
        except (ApiError, Unreachable, SessionExpired) as e:
            self._recent_known = None  # asked again with the next change
            self.recent_note.value = error_text(e) if not self.recent_items else ""
        else:
            pushed = [t for t in self.recent_items if posting_key(t) not in shown]
            self.recent_items = with_pushed(items, pushed)
            self.recent_note.value = "" if self.recent_items else "No transactions yet."
            # an account that moved while the bank answered: once more, after this task
            asyncio.get_running_loop().call_soon(self._load_recent)
        self._render_recent()
        self.page.update()

    def on_state(self, topic: Topic, payload: object) -> None:
        if topic == "profile":
            self._render_header()
        elif topic in ("accounts", "connection"):
            self._render_header()

            self._render_totals()
            self._render_accounts()
            if topic == "accounts":
                self._load_recent()
                self._load_orders()
            self._render_upcoming()  # the accounts' names
        elif topic in ("queue",):
            self._render_queue()
        elif topic == "payees":  # an upcoming payment names a payee by nickname
            self._render_upcoming()
        elif topic == "notification" and isinstance(payload, Notification):
            if payload.kind == "payment_refused":  # perhaps a standing order's
                self._refused_since_asked = True
                self._load_orders()
        elif topic == "transaction" and isinstance(payload, TransactionResponse):
            self._pushed(payload)

    def _pushed(self, posting: TransactionResponse) -> None:
        known = self._recent_known
        if known is not None and posting.account_id in known:
            known[posting.account_id] = known_after_push(known[posting.account_id], posting)
        if all(posting_key(t) != posting_key(posting) for t in self.recent_items):
            self.recent_items.insert(0, posting)
            self._render_recent()

    # --- actions -------------------------------------------------------------------------

    def _clear_finished(self, e: ft.Event[ft.TextButton]) -> None:
        self.state.dismiss_finished()
        asyncio.get_running_loop().create_task(self.shell.ctrl.persist_queue())

    def _open_dialog(self, e: ft.Event[ft.Button]) -> None:
        name = account_name_field("Everyday account")
        currency = dropdown(
            "Currency",
            value="EUR",
            options=[ft.DropdownOption(key=c, text=c) for c in CURRENCIES],
            width=160,
        )
        error = ft.Text("", color=ft.Colors.ERROR, visible=False)

        async def confirm(ev: ft.Event[ft.Button]) -> None:
            if (typed := account_name_of(name, self.page)) is None:
                return
            try:
                account = await self.shell.ctrl.open_account(typed, currency.value or "EUR")
            except Exception as ex:  # noqa: BLE001 - shown in words
                error.value, error.visible = error_text(ex), True
                self.page.update()
                return
            close(dialog)
            self.page.show_dialog(
                ft.SnackBar(ft.Text(f"Opened {account.name} ({account.currency})"))
            )
            self.page.update()

        dialog = ask(
            self.page,
            "Open an account",
            [name, currency, error],
            ft.FilledButton("Open", on_click=confirm),
            spacing=16,
        )
