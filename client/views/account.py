"""One account: live balance, the 30-day chart, and the history with infinite scroll."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID

import flet as ft
import flet_charts as fch  # type: ignore[import-untyped]  # flet-charts ships no py.typed

from client.api import ApiError, SessionExpired, Unreachable
from client.balances import available_of, differs
from client.filled_in import close_out
from client.history import known_after_push, with_pushed
from client.limits import limits_text
from client.state import Topic
from client.statements import StatementFormat, file_name, month_label, months_back
from client.views.common import (
    account_name_field,
    account_name_of,
    account_number_text,
    ask,
    close,
    dropdown,
    error_text,
    money,
    section_title,
    snack,
    take_submitted,
)
from client.views.standing_orders import StandingOrdersSection
from client.views.transaction_details import history_tile
from shared.api import (
    AnalyticsDay,
    AnalyticsResponse,
    PendingHoldResponse,
    TransactionResponse,
)
from shared.money import money_text
from shared.words import counted, moment_text

if TYPE_CHECKING:
    from client.views.shell import Shell

FILTERS = [
    ("all", "All"),
    ("deposit", "Deposits"),
    ("withdrawal", "Withdrawals"),
    ("transfer_out", "Sent"),
    ("transfer_in", "Received"),
]
CHART_DAYS = 30


def chart_summary(data: AnalyticsResponse) -> str:
    """The line under "Last 30 days": money in, money out, how many transactions."""
    cur = data.currency
    return (
        f"In {money_text(data.total_in, cur)} · Out {money_text(data.total_out, cur)}"
        f" · {counted(data.count, 'transaction')}"
    )


def chart_days(data: AnalyticsResponse) -> list[AnalyticsDay]:
    """The days worth drawing: from the first one with a balance or activity. Days before
    the account had any money are not drawn as a flat line at zero (which squeezed all
    recent activity into a spike at the right edge)."""
    if data.count == 0:
        return []
    for i, d in enumerate(data.days):
        if d.count or d.closing_balance:
            return data.days[i:]
    return []


class AccountScreen:
    def __init__(self, shell: Shell, account_id: UUID) -> None:
        self.shell = shell
        self.page = shell.page
        self.state = shell.state
        self.account_id = account_id
        self.kind: str | None = None
        self.search_text: str | None = None  # only postings whose description has it
        self.items: list[TransactionResponse] = []
        self.cursor: str | None = None
        self.exhausted = False
        self._loading = False
        self._reload_task: asyncio.Task[None] | None = None
        # account version the history holds every posting up to: the version it was last
        # asked at, and the postings pushed since in turn (client.history.known_after_push)
        self._seen_version = 0

        self.title = ft.Text("", theme_style=ft.TextThemeStyle.TITLE_LARGE, expand=True)
        self.balance_label = ft.Text("Balance", size=13, color=ft.Colors.ON_PRIMARY_CONTAINER)
        self.balance = ft.Text(
            "", size=34, weight=ft.FontWeight.BOLD, color=ft.Colors.ON_PRIMARY_CONTAINER
        )
        self.balance_note = ft.Text("", size=12, color=ft.Colors.ON_PRIMARY_CONTAINER)
        self.number = ft.Text("", size=12, color=ft.Colors.ON_PRIMARY_CONTAINER)
        self.chart_box = ft.Container(height=150, visible=False)
        self.chart_note = ft.Text("", size=12, color=ft.Colors.ON_SURFACE_VARIANT)
        self.holds = ft.Column(spacing=0)
        self.holds_section = ft.Column(
            [section_title("Pending (held, not yet paid)"), self.holds], visible=False
        )
        self._holds_task: asyncio.Task[None] | None = None
        self._holds_seen: int | None = None  # the available amount the list was loaded at
        self.history = ft.Column(spacing=0)
        self.history_note = ft.Text("", size=12, color=ft.Colors.ON_SURFACE_VARIANT)
        self.more = ft.TextButton("Load more", on_click=lambda e: self._load_more(), visible=False)
        # Chips that wrap onto a second line at phone width (a segmented button cut
        # "Received" off at 412 px with no sign that more followed).
        self.chips = [
            ft.Chip(
                label=ft.Text(t),
                selected=k == "all",
                show_checkmark=False,
                on_select=lambda e, k=k: self._on_filter(k),
            )
            for k, t in FILTERS
        ]
        # The Row shows self.chips itself (no copy); it only reads it, so Chips stay Chips.
        self.filter = ft.Row(
            cast(list[ft.Control], self.chips), wrap=True, spacing=8, run_spacing=8
        )
        self.search = ft.TextField(
            label="Search history",
            prefix_icon=ft.Icons.SEARCH,
            dense=True,
            on_submit=self._on_search,
        )
        self.standing_orders = StandingOrdersSection(shell, account_id)
        self.limits = ft.Text("", size=12, visible=False)
        self._limits_version: int | None = None
        self.rename = ft.TextButton(
            "Rename", icon=ft.Icons.EDIT_OUTLINED, on_click=self._rename_dialog
        )
        self.close_button = ft.TextButton(
            "Close account",
            icon=ft.Icons.NOT_INTERESTED,
            style=ft.ButtonStyle(color=ft.Colors.ERROR),
            on_click=self._close_dialog,
        )
        header = ft.Row(
            [
                ft.IconButton(
                    ft.Icon(ft.Icons.ARROW_BACK, semantics_label="Back"),
                    tooltip="Back",
                    on_click=lambda e: shell.go_tab(0),
                ),
                self.title,
                self.rename,
            ]
        )
        balance_card = ft.Container(
            ft.Column(
                [
                    self.balance_label,
                    self.balance,
                    self.balance_note,
                    ft.Row(
                        [
                            self.number,
                            ft.TextButton(
                                "Copy",
                                icon=ft.Icons.COPY,
                                tooltip="Copy account number",
                                on_click=self._copy_number,
                            ),
                        ],
                        spacing=4,
                        wrap=True,
                    ),
                    self.limits,
                ],
                spacing=4,
            ),
            bgcolor=ft.Colors.PRIMARY_CONTAINER,
            border_radius=24,
            padding=20,
        )
        self.deposit = ft.FilledTonalButton(
            "Deposit",
            icon=ft.Icons.ADD,
            on_click=lambda e: self._move("deposit"),
            visible=self.state.can_deposit,
        )
        self.actions = ft.Row(
            [
                self.deposit,
                ft.FilledTonalButton(
                    "Withdraw", icon=ft.Icons.REMOVE, on_click=lambda e: self._move("withdrawal")
                ),
                ft.FilledTonalButton(
                    "Transfer", icon=ft.Icons.SEND, on_click=lambda e: self._move("transfer")
                ),
            ],
            wrap=True,
            spacing=8,
        )
        body = ft.Column(
            [
                header,
                balance_card,
                self.actions,
                self.holds_section,
                self.standing_orders.control,
                self._statements_section(),
                self.close_button,
                section_title(f"Last {CHART_DAYS} days"),
                self.chart_note,
                self.chart_box,
                section_title("History"),
                self.search,
                self.filter,
                self.history,
                self.history_note,
                self.more,
            ],
            spacing=16,
            scroll=ft.ScrollMode.AUTO,
            expand=True,
            on_scroll=self._on_scroll,
            scroll_interval=200,
        )
        self.control = ft.Container(body, padding=16, expand=True, width=720)
        self._render_account()
        self._load_holds()
        self._load_limits()
        self._reload_task = self._spawn(self._reload())
        if self.standing_orders.control.visible and self.state.online:
            self._spawn(self.standing_orders.load())
        self._chart_version: int | None = None  # the account's version the chart shows
        self._chart_task: asyncio.Task[None] | None = None
        self._refresh_chart()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        return asyncio.get_running_loop().create_task(coro)

    def _update(self) -> None:
        self.page.update()

    # --- account -----------------------------------------------------------------

    def _render_account(self) -> None:
        a = self.state.accounts.get(self.account_id)
        if a is None:
            self.title.value = "Account"
            return
        self.title.value = a.name
        open_ = a.status != "closed"  # a closed account keeps its name and moves no money
        self.rename.visible = self.actions.visible = self.close_button.visible = open_
        self.deposit.visible = self.state.can_deposit  # where the bank takes them (GET /me)
        if not open_:  # closing it cancelled its orders, and none can be set up from it
            self.standing_orders.control.visible = False
        notes = [] if a.status == "active" else [f"Account {a.status}"]
        if differs(a, known=a.id not in self.state.available_unknown):
            # what can be spent, big; the ledger balance beside it
            self.balance_label.value = "Available"
            self.balance.value = money(available_of(a))
            notes.insert(0, f"Balance {money(a.balance)}")
        else:
            self.balance_label.value = "Balance"
            self.balance.value = money(a.balance)
        self.number.value = f"Account number {account_number_text(a)}"
        if not self.state.online:
            notes.append("Offline: last known balance")
        self.balance_note.value = " · ".join(notes)
        self.balance_note.visible = bool(notes)

    def _close_dialog(self, e: ft.Event[ft.TextButton]) -> None:
        a = self.state.accounts.get(self.account_id)
        error = ft.Text("", color=ft.Colors.ERROR, visible=False)
        orders = len(self.standing_orders.shown())
        ends = ""
        if orders:
            which = "standing order" if orders == 1 else f"{orders} standing orders"
            ends = f" Its {which} will be cancelled."

        def move_it(ev: ft.Event[ft.TextButton]) -> None:
            account = self.state.accounts.get(self.account_id)
            filled = close_out(account) if account else None
            close(dialog)
            self.shell.move_money("transfer", self.account_id, filled=filled)

        move = ft.TextButton("Move the money", icon=ft.Icons.SEND, on_click=move_it, visible=False)

        async def confirm(ev: ft.Event[ft.Button]) -> None:
            try:
                await self.shell.ctrl.close_account(self.account_id)
            except (ApiError, Unreachable, SessionExpired) as ex:
                error.value, error.visible = error_text(ex), True  # e.g. money still on it
                # money on it: one tap to Move money, its whole balance filled in
                move.visible = isinstance(ex, ApiError) and ex.code == "account_not_empty"
                self.page.update()
                return
            close(dialog)
            snack(self.page, "Account closed")
            self._update()

        dialog = ask(
            self.page,
            "Close account?",
            [
                ft.Text(
                    f"{a.name if a else 'The account'} will be closed for good: nothing can"
                    f" be paid in or out. Its history and statements stay.{ends}"
                ),
                error,
                move,
            ],
            ft.FilledButton(
                "Close account",
                style=ft.ButtonStyle(bgcolor=ft.Colors.ERROR, color=ft.Colors.ON_ERROR),
                on_click=confirm,
            ),
        )

    def _rename_dialog(self, e: ft.Event[ft.TextButton]) -> None:
        a = self.state.accounts.get(self.account_id)
        name = account_name_field(a.name if a else "")
        error = ft.Text("", color=ft.Colors.ERROR, visible=False)

        async def confirm(ev: ft.Event[ft.Button]) -> None:
            if (typed := account_name_of(name, self.page)) is None:
                return
            try:
                new = await self.shell.ctrl.rename_account(self.account_id, typed)
            except (ApiError, Unreachable, SessionExpired) as ex:
                error.value, error.visible = error_text(ex), True
                self.page.update()
                return
            close(dialog)
            snack(self.page, f"Renamed to {new}")
            self._update()

        dialog = ask(
            self.page,
            "Rename account",
            [name, error],
            ft.FilledButton("Save", on_click=confirm),
            spacing=16,
        )

    async def _copy_number(self, e: ft.Event[ft.TextButton]) -> None:
        a = self.state.accounts.get(self.account_id)
        if a is None or not a.account_number:
            snack(self.page, "The account number is not known yet")
            return
        await ft.Clipboard().set(a.account_number)
        snack(self.page, "Account number copied")

    # --- limits --------------------------------------------------------------------------

    def _load_limits(self) -> None:
        """(Re)load the limits and what is left today when the account moved on."""
        a = self.state.accounts.get(self.account_id)
        if a is None or a.version == self._limits_version:
            return
        self._limits_version = a.version
        if a.status == "closed":  # nothing can leave it: no limits to speak of
            self.limits.visible = False
            return
        self._spawn(self._fetch_limits(a.currency))

    async def _fetch_limits(self, currency: str) -> None:
        try:
            found = await self.shell.ctrl.limits(self.account_id)
        except (ApiError, Unreachable, SessionExpired):
            self._limits_version = None  # try again with the next change
            return
        self.limits.visible = found is not None
        self.limits.value = limits_text(found, currency) if found else ""
        self._update()

    # --- pending holds -----------------------------------------------------------------

    def _load_holds(self) -> None:
        """(Re)load the pending holds when the available balance moved."""
        a = self.state.accounts.get(self.account_id)
        seen = available_of(a).amount - a.balance.amount if a else None
        if seen == self._holds_seen or (self._holds_task and not self._holds_task.done()):
            return
        self._holds_seen = seen
        self._holds_task = self._spawn(self._fetch_holds())

    async def _fetch_holds(self) -> None:
        try:
            items = await self.shell.ctrl.pending_holds(self.account_id)
        except (ApiError, Unreachable, SessionExpired):
            return  # the figures above still say what is held
        self._render_holds(items or [])
        self._update()

    def _render_holds(self, items: list[PendingHoldResponse]) -> None:
        self.holds.controls = [
            ft.ListTile(
                leading=ft.Icon(ft.Icons.HOURGLASS_TOP),
                title=ft.Text(h.description or "Held payment"),
                subtitle=ft.Text(f"Held until {moment_text(h.expires_at)}", size=12),
                trailing=ft.Text(f"−{money(h.amount)}", weight=ft.FontWeight.W_600),
                dense=True,
            )
            for h in items
        ]
        self.holds_section.visible = bool(items)

    # --- statements ----------------------------------------------------------------

    def _statements_section(self) -> ft.Control:
        months = months_back(date.today())
        self.statement_month = dropdown(
            "Statement month",
            value=months[0],
            options=[ft.DropdownOption(key=m, text=month_label(m)) for m in months],
            width=168,
            dense=True,
        )
        self.statement_note = ft.Text("", size=12, color=ft.Colors.ON_SURFACE_VARIANT)
        return ft.Column(
            [
                section_title("Statements"),
                ft.Row(
                    [
                        self.statement_month,
                        ft.OutlinedButton(
                            "CSV",
                            icon=ft.Icons.TABLE_CHART_OUTLINED,
                            on_click=lambda e: self._spawn(self._download("csv")),
                        ),
                        ft.OutlinedButton(
                            "PDF",
                            icon=ft.Icons.PICTURE_AS_PDF_OUTLINED,
                            on_click=lambda e: self._spawn(self._download("pdf")),
                        ),
                    ],
                    wrap=True,
                    spacing=8,
                    run_spacing=8,
                    vertical_alignment=ft.CrossAxisAlignment.CENTER,
                ),
                self.statement_note,
            ],
            spacing=8,
        )

    async def _download(self, fmt: StatementFormat) -> None:
        """Fetch the statement with the bearer token (a link in the browser would not
        carry it), then hand the bytes to the platform: a download in the browser, a
        save dialog on desktop and phones."""
        month = self.statement_month.value or months_back(date.today())[0]
        a = self.state.accounts.get(self.account_id)
        self.statement_note.value = f"Preparing the {month_label(month)} statement…"
        self._update()
        try:
            data = await self.shell.ctrl.statement(self.account_id, month, fmt)
        except ApiError as e:
            self.statement_note.value = (
                "Statements are not available from the bank yet."
                if e.status in (404, 405) and e.code in ("", "not_found", "method_not_allowed")
                else e.reason
            )
            self._update()
            return
        except (Unreachable, SessionExpired) as e:
            self.statement_note.value = error_text(e)
            self._update()
            return
        name = file_name(a.account_number if a else None, month, fmt)
        await ft.FilePicker().save_file(
            dialog_title="Save the statement", file_name=name, src_bytes=data
        )
        self.statement_note.value = f"Statement for {month_label(month)} saved as {name}"
        self._update()

    def _move(self, kind: str) -> None:
        self.shell.move_money(kind, self.account_id)

    # --- history -----------------------------------------------------------------

    def _on_filter(self, value: str) -> None:
        for chip, (k, _) in zip(self.chips, FILTERS, strict=True):
            chip.selected = k == value
        self.kind = None if value == "all" else value
        self.page.update()
        self._spawn(self._reload())

    def _on_search(self, e: ft.Event[ft.TextField]) -> None:
        take_submitted(e)
        self.search_text = (self.search.value or "").strip() or None
        self._spawn(self._reload())

    def _on_scroll(self, e: ft.OnScrollEvent) -> None:
        if e.pixels >= e.max_scroll_extent - 300:
            self._load_more()

    def _load_more(self) -> None:
        if not self.exhausted and not self._loading:
            self._spawn(self._fetch())

    async def _reload(self) -> None:
        a = self.state.accounts.get(self.account_id)
        self._seen_version = a.version if a else 0
        self.items, self.cursor, self.exhausted = [], None, False
        await self._fetch(replace=True)
        # the account moved on while the page came, by a change whose posting was not
        # pushed (polling): once more, after this task ends
        asyncio.get_running_loop().call_soon(self._reload_if_behind)

    def _reload_if_behind(self) -> None:
        a = self.state.accounts.get(self.account_id)
        if a is not None and a.version > self._seen_version:
            if self._reload_task is None or self._reload_task.done():
                self._reload_task = self._spawn(self._reload())

    async def _fetch(self, replace: bool = False) -> None:
        self._loading = True
        asked = (self.kind, self.search_text)
        try:
            page = await self.shell.ctrl.transactions(
                self.account_id, cursor=self.cursor, kind=self.kind, search=self.search_text
            )
        except (ApiError, Unreachable, SessionExpired) as e:
            self.history_note.value = error_text(e)
        else:
            if asked != (self.kind, self.search_text):
                return  # the filter changed while this page came: its own reload follows
            if replace:  # what is in the list now was pushed while the page came
                self.items = with_pushed(page.items, self.items)
            else:
                seen = {t.transaction_id for t in self.items}
                self.items.extend(t for t in page.items if t.transaction_id not in seen)
            self.cursor = page.next_cursor
            self.exhausted = page.next_cursor is None
            filtered = self.kind is not None or self.search_text is not None
            none = "No transactions match." if filtered else "No transactions yet."
            self.history_note.value = "" if self.items else none
        finally:
            self._loading = False
        self._render_history()
        self._update()

    def _render_history(self) -> None:
        self.history.controls = [history_tile(self.shell, t) for t in self.items]
        self.more.visible = not self.exhausted and bool(self.items)

    def _matches(self, tx: TransactionResponse) -> bool:
        """Whether a pushed posting belongs in the list as it is filtered."""
        return (
            tx.account_id == self.account_id
            and (self.kind is None or tx.kind == self.kind)
            and (
                self.search_text is None or self.search_text.casefold() in tx.description.casefold()
            )
        )

    # --- chart ----------------------------------------------------------------------

    def _refresh_chart(self) -> None:
        """(Re)load the chart when the account moved on (one load at a time)."""
        a = self.state.accounts.get(self.account_id)
        version = a.version if a else 0
        if version == self._chart_version or (self._chart_task and not self._chart_task.done()):
            return
        self._chart_version = version
        self._chart_task = self._spawn(self._load_chart())

    async def _load_chart(self) -> None:
        end = date.today()
        try:
            data = await self.shell.ctrl.analytics(
                self.account_id, end - timedelta(days=CHART_DAYS - 1), end
            )
        except ApiError as e:
            self.chart_note.value = "" if e.status == 404 else error_text(e)
            self._update()
            self._chart_version = None  # try again with the next change
            return
        except (Unreachable, SessionExpired) as e:
            self.chart_note.value = error_text(e)
            self._update()
            self._chart_version = None
            return
        self._render_chart(data)
        self._update()
        # a change that came while this load ran: load once more, after this task ends
        asyncio.get_running_loop().call_soon(self._refresh_chart)

    def _render_chart(self, data: AnalyticsResponse) -> None:
        self.chart_note.value = chart_summary(data)
        days = chart_days(data)
        if len(days) < 2:
            self.chart_box.visible = False
            return
        points = [fch.LineChartDataPoint(x=i, y=d.closing_balance) for i, d in enumerate(days)]

        self.chart_box.content = fch.LineChart(
            data_series=[
                fch.LineChartData(
                    points=points,
                    curved=True,
                    prevent_curve_over_shooting=True,
                    color=ft.Colors.PRIMARY,
                    stroke_width=3,
                    below_line_bgcolor=ft.Colors.with_opacity(0.12, ft.Colors.PRIMARY),
                    point=False,
                )
            ],
            left_axis=fch.ChartAxis(show_labels=False),
            bottom_axis=fch.ChartAxis(show_labels=False),
            interactive=False,
            expand=True,
        )
        self.chart_box.visible = True

    # --- live ------------------------------------------------------------------------

    def on_state(self, topic: Topic, payload: object) -> None:
        if topic in ("payees", "accounts"):  # the orders name accounts by name or nickname
            self.standing_orders.render()
        if topic in ("accounts", "connection", "profile"):  # profile: can_deposit
            self._render_account()
            if topic == "accounts":
                self._load_holds()
                self._load_limits()
                self._refresh_chart()
                # a change arrived without its transaction (polling): fetch the first page again
                self._reload_if_behind()
        elif topic == "transaction" and isinstance(payload, TransactionResponse):
            if payload.account_id == self.account_id:  # known, shown or filtered out
                self._seen_version = known_after_push(self._seen_version, payload)
            if self._matches(payload) and all(
                t.transaction_id != payload.transaction_id for t in self.items
            ):
                other = payload.counterparty_account_id
                if (
                    other is not None
                    and other not in self.state.accounts
                    and payload.counterparty_account_number is None
                ):  # pushed without the other account's number: history names it
                    if self._reload_task is None or self._reload_task.done():
                        self._reload_task = self._spawn(self._reload())
                self.items.insert(0, payload)
                self.history_note.value = ""
                self._render_history()
