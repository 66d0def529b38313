"""The app frame: sign-in gate, navigation (bar on phones, rail on wide windows),
the offline banner, and which screen is showing."""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

import flet as ft

from client.controller import Controller
from client.state import AppState, Topic

WIDE = 840  # Material 3 "expanded" window class starts here
TABS = [
    ("Home", ft.Icons.ACCOUNT_BALANCE_OUTLINED, ft.Icons.ACCOUNT_BALANCE),
    ("Payments", ft.Icons.SWAP_HORIZ_OUTLINED, ft.Icons.SWAP_HORIZ),
    ("Settings", ft.Icons.SETTINGS_OUTLINED, ft.Icons.SETTINGS),
]


class Screen(Protocol):
    control: ft.Control

    def on_state(self, topic: Topic, payload: object) -> None: ...


class Shell:
    def __init__(self, page: ft.Page, state: AppState, ctrl: Controller) -> None:
        self.page = page
        self.state = state
        self.ctrl = ctrl
        self.tab = 0
        self.screen: Screen | None = None
        self._wide_layout: bool | None = None
        self.body = ft.Container(expand=True, alignment=ft.Alignment.TOP_CENTER)
        self.banner = self._offline_banner()
        self.nav_bar = ft.NavigationBar(
            destinations=[
                ft.NavigationBarDestination(icon=i, selected_icon=s, label=t) for t, i, s in TABS
            ],
            on_change=lambda e: self.go_tab(e.control.selected_index),
        )
        self.nav_rail = ft.NavigationRail(
            destinations=[
                ft.NavigationRailDestination(icon=i, selected_icon=s, label=t) for t, i, s in TABS
            ],
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
        column = ft.Column([self.banner, self.body], spacing=0, expand=True)
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
        else:
            from client.views.sign_in import SignInScreen

            self.show(SignInScreen(self.page, self.state, self.ctrl))
            self.layout()

    def go_tab(self, index: int, relayout: bool = False) -> None:
        from client.views.dashboard import DashboardScreen
        from client.views.move_money import MoveMoneyScreen
        from client.views.settings import SettingsScreen

        self.tab = index
        self.nav_bar.selected_index = index
        self.nav_rail.selected_index = index
        factory = [DashboardScreen, MoveMoneyScreen, SettingsScreen][index]
        self.show(factory(self))
        if relayout:
            self.layout()
        else:
            self.page.update()

    def open_account(self, account_id: UUID) -> None:
        from client.views.account import AccountScreen

        self.show(AccountScreen(self, account_id))
        self.page.update()

    def move_money(self, kind: str, account_id: UUID | None = None) -> None:
        from client.views.move_money import MoveMoneyScreen

        self.tab = 1
        self.nav_bar.selected_index = 1
        self.nav_rail.selected_index = 1
        self.show(MoveMoneyScreen(self, kind=kind, account_id=account_id))
        self.page.update()

    # --- state changes ----------------------------------------------------------------

    def _on_state(self, topic: Topic, payload: object) -> None:
        if topic == "session":
            self.tab = 0
            self.start()
            return
        if topic == "connection":
            self.banner.visible = self.state.signed_in and not self.state.online
        if self.screen is not None:
            self.screen.on_state(topic, payload)
        self.page.update()
