"""Settings section: stay signed in on this device, unlocked by a PIN or biometrics."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import flet as ft

from client.unlock import InvalidPinError, check_pin
from client.views.common import error_text, section_title, snack, take_submitted

if TYPE_CHECKING:
    from client.views.shell import Shell


class KeepSessionSection:
    def __init__(self, shell: Shell) -> None:
        self.shell = shell
        self.page = shell.page
        self.ctrl = shell.ctrl
        self.status = ft.Text("", color=ft.Colors.ON_SURFACE_VARIANT)
        self.pin = ft.TextField(
            label="New PIN",
            password=True,
            keyboard_type=ft.KeyboardType.NUMBER,
            max_length=8,
            width=220,
            on_submit=self._keep_with_pin,
        )
        self.keep = ft.FilledTonalButton(
            "Keep me signed in", icon=ft.Icons.PIN, on_click=self._keep_with_pin
        )
        self.device = ft.OutlinedButton(
            "Use fingerprint or face",
            icon=ft.Icons.FINGERPRINT,
            on_click=self._keep_with_device,
            visible=False,
        )
        self.stop = ft.TextButton(
            "Stop keeping me signed in",
            icon=ft.Icons.LOCK_RESET,
            on_click=self._stop,
            visible=False,
        )
        self.control = ft.Column(
            [
                section_title("Stay signed in on this device"),
                self.status,
                ft.Row([self.pin, self.keep], wrap=True, spacing=8),
                ft.Row([self.device, self.stop], wrap=True, spacing=8),
                ft.Text(self.ctrl.vault.protection, size=12, color=ft.Colors.ON_SURFACE_VARIANT),
            ],
            spacing=8,
        )
        asyncio.get_running_loop().create_task(self._load())

    async def _load(self) -> None:
        kept = await self.ctrl.vault.stored()
        mine = kept is not None and kept.email == self.shell.state.email
        if not mine:
            self.status.value = "Off: you sign in with your password each time."
        elif kept is not None and kept.method == "pin":
            self.status.value = "On: the app opens with your PIN."
        else:
            self.status.value = "On: the app opens with your fingerprint or face."
        self.stop.visible = mine
        self.keep.content = (
            "Change PIN" if mine and kept and kept.method == "pin" else ("Keep me signed in")
        )
        self.device.visible = await self.ctrl.vault.device_unlock_possible()
        self.page.update()

    async def _keep_with_pin(self, e: ft.Event[ft.TextField] | ft.Event[ft.Button]) -> None:
        take_submitted(e)
        pin = (self.pin.value or "").strip()
        try:
            check_pin(pin)
            await self.ctrl.keep_with_pin(pin)
        except InvalidPinError as ex:
            self.pin.error = str(ex)
            self.page.update()
            return
        except Exception as ex:  # noqa: BLE001 - shown in words
            snack(self.page, error_text(ex))
            return
        self.pin.value, self.pin.error = "", None
        snack(self.page, "You stay signed in on this device: it opens with your PIN.")
        await self._load()

    async def _keep_with_device(self, e: ft.Event[ft.OutlinedButton]) -> None:
        try:
            ok = await self.ctrl.keep_with_device()
        except Exception as ex:  # noqa: BLE001
            snack(self.page, error_text(ex))
            return
        snack(self.page, "The app opens with your fingerprint or face." if ok else "Not available.")
        await self._load()

    async def _stop(self, e: ft.Event[ft.TextButton]) -> None:
        await self.ctrl.stop_keeping()
        snack(self.page, "This device no longer keeps your session.")
        await self._load()
