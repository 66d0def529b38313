"""Settings section: two-step sign-in with an authenticator app.

Turning it on shows the key to put in the app and asks for a code from it (the bank
turns it on only then, so nobody is locked out by a key their app never took), then
shows the ten recovery codes it comes with, once (each signs in once if the phone is
lost); turning it off asks for a current code or a recovery code. While it is on, how
many recovery codes are left is shown, and a new set can be asked for with a code."""

from __future__ import annotations

from typing import TYPE_CHECKING

import flet as ft

from client.views.common import ask, close, error_text, section_title, snack
from shared.api import typed_recovery_code
from shared.words import counted

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


def typed_code_or_recovery_code(text: str | None) -> str | None:
    """A code of the app, or a recovery code ("abcde fghjk" too); None if neither."""
    return typed_code(text) or typed_recovery_code(text)


CODE_HINT = "Type the 6 digits your authenticator app shows for the bank."
CODE_OR_RECOVERY_HINT = (
    "Type the 6 digits your authenticator app shows for the bank, or a recovery code."
)
# The sign-in screen's code field: short enough for a phone's width.
SIGN_IN_CODE_LABEL = "Authenticator code"
SIGN_IN_CODE_HELP = "The 6 digits your app shows for the bank"
# ... for a customer whose phone is lost: one of the codes they kept.
SIGN_IN_RECOVERY_LABEL = "Recovery code"
SIGN_IN_RECOVERY_HELP = "One of the codes you kept, like ABCDE-FGHJK"
USE_RECOVERY_CODE = "Lost your phone? Use a recovery code"
RECOVERY_CODES_TITLE = "Your recovery codes"
RECOVERY_CODES_WORDS = (
    "If you lose your phone, each of these signs you in once instead of a code. Keep them"
    " somewhere safe, away from your phone (a password manager, or on paper): they are not"
    " shown again."
)


def code_field(
    label: str = "6-digit code",
    width: int | None = 260,
    keyboard: ft.KeyboardType = ft.KeyboardType.NUMBER,
) -> ft.TextField:
    return ft.TextField(label=label, keyboard_type=keyboard, width=width)


def _code_or_recovery_field() -> ft.TextField:
    """Where an app code or a recovery code is typed (letters too: a text keyboard)."""
    return code_field("App code or recovery code", keyboard=ft.KeyboardType.TEXT)


def recovery_codes_left_words(left: int) -> str:
    if left == 0:
        return "No recovery codes left: make new ones, in case you lose your phone."
    return f"{counted(left, 'recovery code')} left, for a lost phone."


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
        self.codes_left = ft.Text("", color=ft.Colors.ON_SURFACE_VARIANT)
        self.new_codes = ft.OutlinedButton(
            "New recovery codes", icon=ft.Icons.PASSWORD, on_click=self._new_codes
        )
        self.control = ft.Column(
            [
                section_title("Two-step sign-in"),
                self.status,
                self.codes_left,
                ft.Row([self.turn_on, self.new_codes, self.turn_off], wrap=True, spacing=8),
            ],
            spacing=8,
        )
        self.render()

    def render(self) -> None:
        """What the bank said (GET /me); hidden until it has."""
        on = self.state.two_step
        self.control.visible = on is not None
        self.status.value = ON_WORDS if on else OFF_WORDS
        self.codes_left.value = recovery_codes_left_words(self.state.recovery_codes_left)
        self.turn_on.visible, self.turn_off.visible = not on, bool(on)
        self.codes_left.visible = self.new_codes.visible = bool(on)

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
            _code_or_recovery_field(),
        )

    async def _new_codes(self, e: ft.Event[ft.OutlinedButton]) -> None:
        self._ask_code(
            None,
            "New recovery codes?",
            [ft.Text("The ones you have now will stop working.", size=13)],
            _code_or_recovery_field(),
        )

    def _ask_code(
        self, on: bool | None, title: str, intro: list[ft.Control], code: ft.TextField
    ) -> None:
        """A dialog that turns two-step sign-in ``on`` or off (None: makes new recovery
        codes) with the code typed in it; the recovery codes it gave are shown next."""
        error = ft.Text("", color=ft.Colors.ERROR, visible=False)

        async def confirm(ev: ft.Event[ft.TextButton]) -> None:
            try:
                codes = await self._with_code(on, code.value)
            except _Refused as refused:
                error.value, error.visible = str(refused), True
                self.page.update()
                return
            close(dialog)
            if on is not None:
                snack(self.page, f"Two-step sign-in is {'on' if on else 'off'}")
            if codes:
                self._show_codes(codes)

        action = {True: "Turn on", False: "Turn off", None: "Make new codes"}[on]
        dialog = ask(
            self.page,
            title,
            [*intro, code, error],
            ft.TextButton(action, on_click=confirm),
            scroll=bool(on),  # the set-up dialog is taller than a small phone's screen
        )

    async def _with_code(self, on: bool | None, typed: str | None) -> list[str]:
        """Turn two-step sign-in ``on`` or off, or make new recovery codes, with the
        ``typed`` code: the recovery codes given. ``_Refused`` says what to tell the
        customer when that did not happen."""
        code = typed_code(typed) if on else typed_code_or_recovery_code(typed)
        if code is None:
            raise _Refused(CODE_HINT if on else CODE_OR_RECOVERY_HINT)
        ctrl = self.shell.ctrl
        try:
            if on is None:
                return await ctrl.new_recovery_codes(code)
            return await ctrl.set_two_step(on, code)
        except Exception as ex:  # noqa: BLE001 - shown in words
            raise _Refused(error_text(ex)) from None

    def _show_codes(self, codes: list[str]) -> None:
        """The recovery codes, this once, with a button that copies them."""

        async def copy(ev: ft.Event[ft.TextButton]) -> None:
            await ft.Clipboard().set("\n".join(codes))
            snack(self.page, "Recovery codes copied")

        ask(
            self.page,
            RECOVERY_CODES_TITLE,
            [
                ft.Text(RECOVERY_CODES_WORDS, size=13),
                # Not selectable, as the key: screen readers read a plain text out.
                *(ft.Text(c, weight=ft.FontWeight.W_600, font_family="monospace") for c in codes),
            ],
            ft.TextButton("Copy codes", icon=ft.Icons.COPY, on_click=copy),
            cancel="I have kept them",
            modal=True,  # not dismissed by a tap beside it: they are not shown again
            scroll=True,
            spacing=6,
        )


class _Refused(Exception):
    """What to tell the customer whose code did not do what they asked."""
