"""Settings section: two-step sign-in with an authenticator app.

Turning it on shows the key to put in the app and asks for a code from it (the bank
turns it on only then, so nobody is locked out by a key their app never took);
turning it off asks for a current code."""

from __future__ import annotations

from typing import TYPE_CHECKING

import flet as ft

from client.views.common import ask, error_text, section_title, snack

if TYPE_CHECKING:
    from client.views.shell import Shell

ON_WORDS = "On: signing in asks for your password and a code from your authenticator app."
OFF_WORDS = (
    "Off: your password alone signs you in. Turn it on so that a stolen password is not enough."
)


def typed_code(text: str | None) -> str | None:
    """The six digits of a code as typed ("123 456" too); None if it is not one."""
    digits = (text or "").replace(" ", "")
    return digits if len(digits) == 6 and digits.isascii() and digits.isdigit() else None


CODE_HINT = "Type the 6 digits your authenticator app shows for the bank."
# The sign-in screen's code field: short enough for a phone's width.
SIGN_IN_CODE_LABEL = "Authenticator code"
SIGN_IN_CODE_HELP = "The 6 digits your app shows for the bank"


def code_field(label: str = "6-digit code", width: int | None = 260) -> ft.TextField:
    return ft.TextField(label=label, keyboard_type=ft.KeyboardType.NUMBER, width=width)


class TwoStepSection:
    def __init__(self, shell: Shell) -> None:
        self.shell = shell
        self.page = shell.page
        self.state = shell.state
        self.status = ft.Text("", color=ft.Colors.ON_SURFACE_VARIANT)
        self.turn_on = ft.FilledTonalButton(
            "Turn on two-step sign-in", icon=ft.Icons.SECURITY, on_click=self._set_up
        )
        self.turn_off = ft.OutlinedButton(
            "Turn off two-step sign-in", icon=ft.Icons.GPP_BAD_OUTLINED, on_click=self._off
        )
        self.control = ft.Column(
            [
                section_title("Two-step sign-in"),
                self.status,
                ft.Row([self.turn_on, self.turn_off], wrap=True, spacing=8),
            ],
            spacing=8,
        )
        self.render()

    def render(self) -> None:
        """What the bank said (GET /me); hidden until it has."""
        on = self.state.two_step
        self.control.visible = on is not None
        self.status.value = ON_WORDS if on else OFF_WORDS
        self.turn_on.visible, self.turn_off.visible = not on, bool(on)

    async def _set_up(self, e: ft.Event[ft.Button]) -> None:
        try:
            setup = await self.shell.ctrl.set_up_two_step()
        except Exception as ex:  # noqa: BLE001 - shown in words
            snack(self.page, error_text(ex))
            return

        async def copy(ev: ft.Event[ft.TextButton]) -> None:
            await ft.Clipboard().set(setup.secret.replace(" ", ""))
            snack(self.page, "Key copied")

        self._ask_code(
            True,
            "Set up two-step sign-in",
            [
                ft.Text(
                    "In your authenticator app (Google Authenticator, Microsoft Authenticator,"
                    " 1Password…), add an account with this key, time-based:",
                    size=13,
                ),
                # Not selectable: a selectable text is a textbox to screen readers, which
                # then do not read the key out; Copy key copies it.
                ft.Text(setup.secret, weight=ft.FontWeight.W_600),
                ft.TextButton("Copy key", icon=ft.Icons.COPY, on_click=copy),
                ft.Text("Then type the code it shows for the bank.", size=13),
            ],
            code_field(),
        )

    async def _off(self, e: ft.Event[ft.OutlinedButton]) -> None:
        self._ask_code(
            False,
            "Turn off two-step sign-in?",
            [ft.Text("Your password alone will sign you in again.", size=13)],
            code_field("Code from your authenticator app"),
        )

    def _ask_code(self, on: bool, title: str, intro: list[ft.Control], code: ft.TextField) -> None:
        """A dialog that turns two-step sign-in ``on`` or off with the code typed in it."""
        error = ft.Text("", color=ft.Colors.ERROR, visible=False)

        async def confirm(ev: ft.Event[ft.TextButton]) -> None:
            refused = await self._turn(on, code.value)
            if refused is None:
                self.page.pop_dialog()
                snack(self.page, f"Two-step sign-in is {'on' if on else 'off'}")
                return
            error.value, error.visible = refused, True
            self.page.update()

        ask(
            self.page,
            title,
            [*intro, code, error],
            ft.TextButton("Turn on" if on else "Turn off", on_click=confirm),
            scroll=on,  # the set-up dialog is taller than a small phone's screen
        )

    async def _turn(self, on: bool, typed: str | None) -> str | None:
        """Turn two-step sign-in ``on`` or off with the ``typed`` code; what to tell the
        customer when that did not happen."""
        code = typed_code(typed)
        if code is None:
            return CODE_HINT
        try:
            await self.shell.ctrl.set_two_step(on, code)
        except Exception as ex:  # noqa: BLE001 - shown in words
            return error_text(ex)
        return None
