"""The app frame: sign-in gate, navigation (bar on phones, rail on wide windows),
the offline banner, and which screen is showing."""

from __future__ import annotations

import asyncio
from typing import Protocol
from uuid import UUID

import flet as ft

from client.controller import Controller
from client.filled_in import FilledIn
from client.state import AppState, Topic
from client.unlock import StoredSession
from shared.notifications import Notification

WIDE = 840  # Material 3 "expanded" window class starts here
TABS = [
    ("Home", ft.Icons.ACCOUNT_BALANCE_OUTLINED, ft.Icons.ACCOUNT_BALANCE),
    ("Payments", ft.Icons.SWAP_HORIZ_OUTLINED, ft.Icons.SWAP_HORIZ),
    ("Inbox", ft.Icons.NOTIFICATIONS_OUTLINED, ft.Icons.NOTIFICATIONS),
    ("Settings", ft.Icons.SETTINGS_OUTLINED, ft.Icons.SETTINGS),
]
INBOX_TAB = 2
BANNER_SECONDS = 8.0


class Screen(Protocol):
    @property
    def control(self) -> ft.Control: ...  # read-only here, so a screen's may be a Container

    def on_state(self, topic: Topic, payload: object) -> None: ...


class Shell:
    def __init__(self, page: ft.Page, state: AppState, ctrl: Controller) -> None:
        self.page = page
        self.state = state
        self.ctrl = ctrl
        self.tab = 0
        self.screen: Screen | None = None
        self.kept: StoredSession | None = None  # a session on this device, to unlock
        self._wide_layout: bool | None = None
        self.body = ft.Container(expand=True, alignment=ft.Alignment.TOP_CENTER)
        self.banner = self._offline_banner()
        self.alert_title = ft.Text("", weight=ft.FontWeight.W_600, color=ft.Colors.ON_SECONDARY)
        self.alert_body = ft.Text("", size=12, color=ft.Colors.ON_SECONDARY)
        self.alert = self._notification_banner()
        self._alert_hide: asyncio.TimerHandle | None = None
        self.bar_items = [
            ft.NavigationBarDestination(icon=i, selected_icon=s, label=t) for t, i, s in TABS
        ]
        self.rail_items = [
            ft.NavigationRailDestination(icon=i, selected_icon=s, label=t) for t, i, s in TABS
        ]
        self.nav_bar = ft.NavigationBar(
            destinations=self.bar_items,
            on_change=lambda e: self.go_tab(e.control.selected_index),
        )
        self.nav_rail = ft.NavigationRail(
            destinations=self.rail_items,
            label_type=ft.NavigationRailLabelType.ALL,
            leading=ft.Container(
                ft.Icon(ft.Icons.ACCOUNT_BALANCE, color=ft.Colors.PRIMARY, size=32),
                padding=ft.Padding.only(top=12, bottom=24),
            ),
            group_alignment=-0.9,
            on_change=lambda e: self.go_tab(e.control.selected_index),
        )
        state.listen(self._on_state)

    # --- layout -------------------------------------------------------------------

    @property
    def wide(self) -> bool:
        return (self.page.width or 0) >= WIDE

    def _offline_banner(self) -> ft.Container:
        return ft.Container(
            content=ft.Row(
                [
                    ft.Icon(ft.Icons.CLOUD_OFF, color=ft.Colors.ON_TERTIARY_CONTAINER),
                    ft.Text(
                        "Offline: showing the last known balances. Payments you make are "
                        "queued on this device and sent when the connection returns.",
                        color=ft.Colors.ON_TERTIARY_CONTAINER,
                        expand=True,
                        size=13,
                    ),
                    ft.TextButton("Retry now", on_click=lambda e: self.ctrl.wake()),
                ],
                spacing=12,
            ),
            bgcolor=ft.Colors.TERTIARY_CONTAINER,
            padding=ft.Padding.symmetric(horizontal=16, vertical=8),
            visible=False,
        )

    def _notification_banner(self) -> ft.Container:
        return ft.Container(
            content=ft.Row(
                [
                    ft.Icon(ft.Icons.NOTIFICATIONS_ACTIVE, color=ft.Colors.ON_SECONDARY),
                    ft.Column([self.alert_title, self.alert_body], spacing=2, expand=True),
                    ft.TextButton(
                        "View",
                        style=ft.ButtonStyle(color=ft.Colors.ON_SECONDARY),
                        on_click=lambda e: self._open_inbox(),
                    ),
                    ft.IconButton(
                        ft.Icon(ft.Icons.CLOSE, semantics_label="Dismiss"),
                        icon_color=ft.Colors.ON_SECONDARY,
                        tooltip="Dismiss",
                        on_click=lambda e: self._hide_alert(),
                    ),
                ],
                spacing=8,
            ),
            bgcolor=ft.Colors.SECONDARY,
            padding=ft.Padding.only(left=16, right=4, top=6, bottom=6),
            visible=False,
        )

    def _show_alert(self, n: Notification) -> None:
        self.alert_title.value, self.alert_body.value = n.title, n.body
        self.alert.visible = True
        if self._alert_hide is not None:
            self._alert_hide.cancel()
        loop = asyncio.get_running_loop()
        self._alert_hide = loop.call_later(BANNER_SECONDS, self._hide_alert)

    def _hide_alert(self) -> None:
        if self.alert.visible:
            self.alert.visible = False
            self.page.update()

    def _open_inbox(self) -> None:
        self.alert.visible = False
        self.go_tab(INBOX_TAB)

    def _render_badge(self) -> None:
        n = self.state.unread
        label = None if n == 0 else (str(n) if n < 100 else "99+")
        for item in (self.bar_items[INBOX_TAB], self.rail_items[INBOX_TAB]):
            item.icon = ft.Icon(TABS[INBOX_TAB][1], badge=label)
            item.selected_icon = ft.Icon(TABS[INBOX_TAB][2], badge=label)
        # what a screen reader says of the badge; no tooltip of its own when there is none
        self.bar_items[INBOX_TAB].tooltip = f"Inbox, {n} unread" if n else None

    def layout(self) -> None:
        page = self.page
        page.controls.clear()
        if not self.state.signed_in:
            page.navigation_bar = None
            page.add(ft.SafeArea(self.body, expand=True))
            page.update()
            return
        self.banner.visible = not self.state.online
        self._wide_layout = self.wide
        self._render_badge()
        column = ft.Column([self.banner, self.alert, self.body], spacing=0, expand=True)
        if self.wide:
            page.navigation_bar = None
            self.nav_rail.selected_index = self.tab
            page.add(
                ft.Row(
                    [self.nav_rail, ft.VerticalDivider(width=1), column],
                    spacing=0,
                    expand=True,
                    vertical_alignment=ft.CrossAxisAlignment.STRETCH,
                )
            )
        else:
            self.nav_bar.selected_index = self.tab
            page.navigation_bar = self.nav_bar
            page.add(ft.SafeArea(column, expand=True))
        page.update()

    def on_resize(self, e: ft.PageResizeEvent) -> None:
        if self.state.signed_in and self._wide_layout != self.wide:
            self.layout()

    # --- navigation ---------------------------------------------------------------

    def show(self, screen: Screen) -> None:
        self.screen = screen
        self.body.content = ft.Container(
            screen.control,
            width=None,
            expand=True,
            padding=ft.Padding.symmetric(horizontal=0),
        )

    def start(self) -> None:
        if self.state.signed_in:
            self.go_tab(self.tab, relayout=True)
        elif self.kept is not None:
            from client.views.unlock import UnlockScreen

            self.show(UnlockScreen(self, self.kept))
            self.layout()
        else:
            self.show_sign_in()

    def show_sign_in(self) -> None:
        from client.views.sign_in import SignInScreen

        self.kept = None
        self.show(SignInScreen(self.page, self.state, self.ctrl))
        self.layout()

    def go_tab(self, index: int, relayout: bool = False) -> None:
        from client.views.dashboard import DashboardScreen
        from client.views.inbox import InboxScreen
        from client.views.move_money import MoveMoneyScreen
        from client.views.settings import SettingsScreen

        self.tab = index
        self.nav_bar.selected_index = index
        self.nav_rail.selected_index = index
        factory = [DashboardScreen, MoveMoneyScreen, InboxScreen, SettingsScreen][index]
        self.show(factory(self))
        if relayout:
            self.layout()
        else:
            self.page.update()

    def open_account(self, account_id: UUID) -> None:
        from client.views.account import AccountScreen

        self.show(AccountScreen(self, account_id))
        self.page.update()

    def move_money(
        self, kind: str, account_id: UUID | None = None, filled: FilledIn | None = None
    ) -> None:
        """Payments, set for ``kind`` from ``account_id``, or filled in (``filled``: a
        payment to make again, an account's balance to move before closing it)."""
        from client.views.move_money import MoveMoneyScreen

        self.tab = 1
        self.nav_bar.selected_index = 1
        self.nav_rail.selected_index = 1
        self.show(MoveMoneyScreen(self, kind=kind, account_id=account_id, filled=filled))
        self.page.update()

    # --- state changes ----------------------------------------------------------------

    def _on_state(self, topic: Topic, payload: object) -> None:
        if topic == "session":
            self.tab = 0
            self.kept = None
            self.alert.visible = False
            self.start()
            return
        if topic == "connection":
            self.banner.visible = self.state.signed_in and not self.state.online
        if topic == "notification":
            self._render_badge()
            if isinstance(payload, Notification) and not payload.read and self.tab != INBOX_TAB:
                self._show_alert(payload)

        if self.screen is not None:
            self.screen.on_state(topic, payload)
        self.page.update()
