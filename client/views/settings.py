"""Settings: theme, server, email, password, two-step sign-in, signed-in devices, sign
out."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import flet as ft

from client.state import Topic
from client.views.common import ask, close, error_text, password_field, section_title, snack
from client.views.email_change import EmailSection
from client.views.keep_session import KeepSessionSection
from client.views.two_step import TwoStepSection
from shared.security import SessionResponse
from shared.words import counted, moment_text

if TYPE_CHECKING:
    from client.views.shell import Shell

THEME_KEY = "bank.theme"
THEMES = {"system": ft.ThemeMode.SYSTEM, "light": ft.ThemeMode.LIGHT, "dark": ft.ThemeMode.DARK}


class SettingsScreen:
    def __init__(self, shell: Shell) -> None:
        self.shell = shell
        self.page = shell.page
        self.state = shell.state
        current = next((k for k, v in THEMES.items() if v == self.page.theme_mode), "system")
        self.theme = ft.SegmentedButton(
            segments=[
                ft.Segment(value="system", label=ft.Text("System"), icon=ft.Icons.BRIGHTNESS_AUTO),
                ft.Segment(value="light", label=ft.Text("Light"), icon=ft.Icons.LIGHT_MODE),
                ft.Segment(value="dark", label=ft.Text("Dark"), icon=ft.Icons.DARK_MODE),
            ],
            selected=[current],
            on_change=self._on_theme,
        )
        self.server = ft.TextField(label="Server URL", value=self.state.api_url, expand=True)
        self.sessions = ft.Column(spacing=0)
        self.sessions_section = ft.Column(
            [section_title("Signed-in devices"), ft.Card(ft.Container(self.sessions, padding=4))],
            visible=False,
        )
        self.pending = ft.Text("", size=12, color=ft.Colors.ON_SURFACE_VARIANT)
        self.two_step = TwoStepSection(shell)
        self.email = EmailSection(shell)
        self.signed_in_as = ft.Text("", color=ft.Colors.ON_SURFACE_VARIANT)
        self._render_signed_in_as()
        self.control = ft.Container(
            ft.Column(
                [
                    ft.Text("Settings", theme_style=ft.TextThemeStyle.HEADLINE_SMALL),
                    self.signed_in_as,
                    section_title("Appearance"),
                    self.theme,
                    section_title("Server"),
                    ft.Row(
                        [self.server, ft.OutlinedButton("Use server", on_click=self._on_server)]
                    ),
                    ft.Text(
                        "Changing the server signs you out. Queued payments stay on this device.",
                        size=12,
                        color=ft.Colors.ON_SURFACE_VARIANT,
                    ),
                    KeepSessionSection(shell).control,
                    self.email.control,
                    section_title("Password"),
                    ft.OutlinedButton(
                        "Change password", icon=ft.Icons.PASSWORD, on_click=self._change_password
                    ),
                    self.two_step.control,
                    self.sessions_section,
                    section_title("Session"),
                    self.pending,
                    ft.Row(
                        [
                            ft.FilledTonalButton(
                                "Sign out", icon=ft.Icons.LOGOUT, on_click=self._sign_out
                            ),
                            ft.OutlinedButton(
                                "Sign out everywhere",
                                icon=ft.Icons.PHONELINK_ERASE,
                                on_click=self._sign_out_everywhere,
                            ),
                        ],
                        wrap=True,
                    ),
                ],
                spacing=16,
                scroll=ft.ScrollMode.AUTO,
                expand=True,
            ),
            padding=16,
            expand=True,
            width=640,
        )
        self._render_pending()
        asyncio.get_running_loop().create_task(self._load_sessions())

    def on_state(self, topic: Topic, payload: object) -> None:
        if topic == "queue":
            self._render_pending()
        elif topic == "profile":
            self.two_step.render()
            self.email.render()
            self._render_signed_in_as()
            self.page.update()

    def _render_signed_in_as(self) -> None:
        name, email = self.state.full_name, self.state.email
        self.signed_in_as.value = f"Signed in as {name or email}" + (f" ({email})" if name else "")

    def _render_pending(self) -> None:
        n = len(self.state.pending())
        self.pending.value = f"{counted(n, 'payment')} queued on this device." if n else ""
        self.pending.visible = bool(n)

    async def _on_theme(self, e: ft.Event[ft.SegmentedButton]) -> None:
        choice = (e.control.selected or ["system"])[0]
        self.page.theme_mode = THEMES[choice]
        self.page.update()
        try:
            await self.shell.ctrl.store.set(THEME_KEY, choice)
        except Exception:  # noqa: BLE001 - a preference, not money
            pass

    async def _on_server(self, e: ft.Event[ft.OutlinedButton]) -> None:
        url = (self.server.value or "").strip().rstrip("/")
        if not url.startswith(("http://", "https://")):
            self.server.error = "Start with http:// or https://"
            self.page.update()
            return
        await self.shell.ctrl.sign_out()
        self.shell.ctrl.set_api_url(url)

    async def _sign_out(self, e: ft.Event[ft.Button]) -> None:
        await self.shell.ctrl.sign_out()

    async def _sign_out_everywhere(self, e: ft.Event[ft.OutlinedButton]) -> None:
        await self.shell.ctrl.sign_out(everywhere=True)

    async def _change_password(self, e: ft.Event[ft.OutlinedButton]) -> None:
        current, new, again = (
            password_field("Current password"),
            password_field("New password"),
            password_field("New password again"),
        )
        error = ft.Text("", color=ft.Colors.ERROR, visible=False)

        async def confirm(ev: ft.Event[ft.TextButton]) -> None:
            if not current.value or not new.value:
                error.value, error.visible = "Fill in your current and your new password.", True
            elif new.value != again.value:
                error.value, error.visible = "The new password and its repeat differ.", True
            else:
                try:
                    ended = await self.shell.ctrl.change_password(current.value, new.value)
                except Exception as ex:  # noqa: BLE001 - shown in words
                    error.value, error.visible = error_text(ex), True
                else:
                    close(dialog)
                    others = f" {counted(ended, 'other device')} signed out." if ended else ""
                    snack(self.page, f"Password changed.{others}")
                    await self._load_sessions()
                    return
            self.page.update()

        notice = ft.Text(
            "Every other device you are signed in on will be signed out.",
            size=12,
            color=ft.Colors.ON_SURFACE_VARIANT,
        )
        dialog = ask(
            self.page,
            "Change password",
            [current, new, again, notice, error],
            ft.TextButton("Change", on_click=confirm),
        )

    async def _load_sessions(self) -> None:
        try:
            items = await self.shell.ctrl.sessions()
        except Exception:  # noqa: BLE001 - the section simply stays hidden
            items = None
        if items is None:
            return
        self.sessions.controls = [self._session_tile(s) for s in items]
        self.sessions_section.visible = bool(items)
        self.page.update()

    def _session_tile(self, s: SessionResponse) -> ft.ListTile:
        async def revoke(e: ft.Event[ft.TextButton]) -> None:
            try:
                await self.shell.ctrl.revoke_session(s.id)
            except Exception as ex:  # noqa: BLE001
                snack(self.page, error_text(ex))
                return
            await self._load_sessions()

        return ft.ListTile(
            leading=ft.Icon(ft.Icons.SMARTPHONE if not s.current else ft.Icons.CHECK_CIRCLE),
            title=ft.Text(s.user_agent or "Device"),
            subtitle=ft.Text(
                ("This device · " if s.current else "")
                + f"last used {moment_text(s.last_used_at)} · {s.ip}",
                size=12,
            ),
            trailing=None if s.current else ft.TextButton("Revoke", on_click=revoke),
        )
