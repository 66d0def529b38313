"""Inbox: the customer's notifications, newest first; opening it marks them read."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import flet as ft

from client.state import Topic
from client.views.common import error_text
from shared.notifications import Notification
from shared.words import moment_text

if TYPE_CHECKING:
    from client.views.shell import Shell

ICONS = {
    "money_received": ft.Icons.SOUTH_WEST,
    "payment_refused": ft.Icons.BLOCK,
    "large_withdrawal": ft.Icons.WARNING_AMBER,
    "new_sign_in": ft.Icons.DEVICES,
    "password_changed": ft.Icons.PASSWORD,
    "transfer_cancelled": ft.Icons.CANCEL_SCHEDULE_SEND,
    "two_step_on": ft.Icons.SECURITY,
    "two_step_off": ft.Icons.GPP_BAD_OUTLINED,
    "email_changed": ft.Icons.ALTERNATE_EMAIL,
}


def notification_tile(n: Notification) -> ft.ListTile:
    return ft.ListTile(
        leading=ft.CircleAvatar(
            content=ft.Icon(ICONS.get(n.kind, ft.Icons.NOTIFICATIONS), size=20),
            bgcolor=ft.Colors.SECONDARY_CONTAINER
            if not n.read
            else ft.Colors.SURFACE_CONTAINER_HIGHEST,
            radius=18,
        ),
        title=ft.Text(n.title, weight=ft.FontWeight.W_600 if not n.read else None),
        subtitle=ft.Text(f"{n.body}\n{moment_text(n.occurred_at)}", size=12),
        is_three_line=True,
    )


class InboxScreen:
    def __init__(self, shell: Shell) -> None:
        self.shell = shell
        self.page = shell.page
        self.state = shell.state
        self.items = ft.Column(spacing=0)
        self.note = ft.Text("", size=12, color=ft.Colors.ON_SURFACE_VARIANT)
        self.control = ft.Container(
            ft.Column(
                [
                    ft.Text("Inbox", theme_style=ft.TextThemeStyle.HEADLINE_SMALL),
                    self.note,
                    self.items,
                ],
                spacing=16,
                scroll=ft.ScrollMode.AUTO,
                expand=True,
            ),
            padding=16,
            expand=True,
            width=720,
        )
        self._render()
        asyncio.get_running_loop().create_task(self._refresh())

    def _render(self) -> None:
        items = self.state.notifications
        self.items.controls = [notification_tile(n) for n in items]
        if not items and not self.note.value:
            self.note.value = "No notifications yet. Money received, refused payments, large "
            self.note.value += "withdrawals and new sign-ins show up here."
        self.note.visible = bool(self.note.value) and not items

    async def _refresh(self) -> None:
        try:
            await self.shell.ctrl.load_notifications()
            await self.shell.ctrl.mark_notifications_read()
        except Exception as e:  # noqa: BLE001 - shown in words; the list stays as it was
            if not self.state.notifications:
                self.note.value = error_text(e)
                self._render()
                self.page.update()

    def on_state(self, topic: Topic, payload: object) -> None:
        if topic == "notification":
            self._render()
            if isinstance(payload, Notification) and not payload.read:
                asyncio.get_running_loop().create_task(self._mark_read())

    async def _mark_read(self) -> None:
        try:
            await self.shell.ctrl.mark_notifications_read()
        except Exception:  # noqa: BLE001 - stays unread; marked on the next visit
            pass
