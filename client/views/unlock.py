"""Unlock a session kept on this device: the app PIN, or the device's biometrics."""

from __future__ import annotations

from typing import TYPE_CHECKING

import flet as ft

from client.state import Topic
from client.unlock import MAX_PIN_FAILURES, StoredSession
from client.views.common import take_submitted
from shared.words import counted

if TYPE_CHECKING:
    from client.views.shell import Shell

DROPPED = (
    f"{MAX_PIN_FAILURES} wrong PINs: this device no longer keeps your session. "
    "Sign in with your password."
)


class UnlockScreen:
    def __init__(self, shell: Shell, stored: StoredSession) -> None:
        self.shell = shell
        self.page = shell.page
        self.stored = stored
        first = (stored.full_name or stored.email).split()[0]
        self.pin = ft.TextField(
            label="PIN",
            password=True,
            keyboard_type=ft.KeyboardType.NUMBER,
            max_length=8,
            prefix_icon=ft.Icons.PIN_OUTLINED,
            on_submit=self._unlock_pin,
            visible=stored.method == "pin",
        )
        self.message = ft.Text("", color=ft.Colors.ERROR, visible=False)
        self.busy = ft.ProgressRing(width=20, height=20, stroke_width=2, visible=False)
        unlock = (
            ft.FilledButton("Unlock", icon=ft.Icons.LOCK_OPEN, on_click=self._unlock_pin)
            if stored.method == "pin"
            else ft.FilledButton(
                "Unlock with fingerprint or face",
                icon=ft.Icons.FINGERPRINT,
                on_click=self._unlock_device,
            )
        )
        self.control = ft.Container(
            ft.Column(
                [
                    ft.Container(height=24),
                    ft.Container(
                        ft.Icon(ft.Icons.LOCK_OUTLINE, size=40, color=ft.Colors.ON_PRIMARY),
                        bgcolor=ft.Colors.PRIMARY,
                        border_radius=20,
                        padding=16,
                    ),
                    ft.Text("Northwind Bank", theme_style=ft.TextThemeStyle.TITLE_LARGE),
                    ft.Text(f"Welcome back, {first}", theme_style=ft.TextThemeStyle.HEADLINE_SMALL),
                    ft.Text(stored.email, size=12, color=ft.Colors.ON_SURFACE_VARIANT),
                    self.pin,
                    self.message,
                    ft.Row([unlock, self.busy], wrap=True),
                    ft.TextButton("Use my password instead", on_click=self._use_password),
                ],
                spacing=16,
                horizontal_alignment=ft.CrossAxisAlignment.CENTER,
                scroll=ft.ScrollMode.AUTO,
            ),
            width=420,
            padding=24,
        )

    def on_state(self, topic: Topic, payload: object) -> None:
        pass

    def _say(self, text: str) -> None:
        self.message.value, self.message.visible = text, bool(text)
        self.busy.visible = False
        self.page.update()

    async def _unlock_pin(self, e: ft.Event[ft.TextField] | ft.Event[ft.Button]) -> None:
        take_submitted(e)
        pin = (self.pin.value or "").strip()
        if not pin:
            self._say("Enter your PIN")
            return
        # Cleared now, with the busy ring: a clear sent later (with the outcome) would
        # race the next PIN the customer starts typing.
        self.pin.value = ""
        self.busy.visible = True
        self.page.update()
        result = await self.shell.ctrl.vault.unlock_with_pin(pin)
        if result.dropped:
            self.shell.state.notice = DROPPED
            self.shell.show_sign_in()
            return
        if result.refresh_token is None:
            self._say(f"Wrong PIN. {counted(result.remaining, 'try', 'tries')} left.")
            return
        await self.shell.ctrl.resume(self.stored, result.refresh_token)

    async def _unlock_device(self, e: ft.Event[ft.Button]) -> None:
        token = await self.shell.ctrl.vault.unlock_with_device("Unlock Northwind Bank")
        if token is None:
            self._say("Not unlocked. Try again, or use your password.")
            return
        await self.shell.ctrl.resume(self.stored, token)

    def _use_password(self, e: ft.Event[ft.TextButton]) -> None:
        self.shell.show_sign_in()
