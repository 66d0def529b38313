"""Forgot the password: the bank emails a code, and the code with a new password sets it.

Two dialogs over the sign-in screen, no session needed: the email (taken from the
sign-in form), then the code and the new password. The bank answers the first the same
whether the email has an account or not, and the app shows what it said.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import flet as ft

from client.controller import Controller
from client.views.common import (
    EMAIL,
    EMAILED_CODE_HINT,
    ask,
    close,
    emailed_code_field,
    error_text,
    password_field,
    snack,
)
from shared.api import PASSWORD_MIN_LENGTH, typed_emailed_code

DONE = "Your password is reset. Sign in with the new one."


class PasswordReset:
    def __init__(
        self, page: ft.Page, ctrl: Controller, done: Callable[[str], Awaitable[None]]
    ) -> None:
        """``done(email)``: the password of ``email`` is reset (to sign in with it)."""
        self.page = page
        self.ctrl = ctrl
        self.done = done

    def start(self, email: str) -> None:
        """Ask for the email to send a code to (``email``: what the form has so far)."""
        field = ft.TextField(
            label="Your email", value=email, keyboard_type=ft.KeyboardType.EMAIL, autofocus=True
        )
        error = ft.Text("", color=ft.Colors.ERROR, visible=False)

        async def send(ev: ft.Event[ft.TextButton]) -> None:
            typed = (field.value or "").strip()
            if not EMAIL.match(typed):
                error.value, error.visible = "Enter the email you signed up with.", True
                self.page.update()
                return
            try:
                said = await self.ctrl.request_password_reset(typed)
            except Exception as ex:  # noqa: BLE001 - shown in words
                error.value, error.visible = error_text(ex), True
                self.page.update()
                return
            close(dialog)
            self._ask_code(typed, said)

        intro = "We will email you a code to set a new password."
        dialog = ask(
            self.page,
            "Forgot your password?",
            [ft.Text(intro, size=13), field, error],
            ft.TextButton("Email me a code", on_click=send),
        )

    def _ask_code(self, email: str, said: str) -> None:
        code = emailed_code_field()
        new = password_field("New password", helper=f"At least {PASSWORD_MIN_LENGTH} characters")
        error = ft.Text("", color=ft.Colors.ERROR, visible=False)

        async def again(ev: ft.Event[ft.TextButton]) -> None:
            close(dialog)
            self.start(email)

        async def reset(ev: ft.Event[ft.TextButton]) -> None:
            refused = await self._reset(email, code.value, new.value)
            if refused is None:
                close(dialog)
                snack(self.page, DONE)
                await self.done(email)
                return
            error.value, error.visible = refused, True
            self.page.update()

        dialog = ask(
            self.page,
            "Set a new password",
            [
                ft.Text(said, size=13),
                code,
                new,
                error,
                ft.TextButton("Send a new code", on_click=again),
            ],
            ft.TextButton("Set password", on_click=reset),
        )

    async def _reset(self, email: str, typed_code: str | None, new: str | None) -> str | None:
        """Reset the password; what to tell the customer when that did not happen."""
        code = typed_emailed_code(typed_code)
        if code is None:
            return EMAILED_CODE_HINT
        if len(new or "") < PASSWORD_MIN_LENGTH:
            return f"Choose a new password of at least {PASSWORD_MIN_LENGTH} characters."
        try:
            await self.ctrl.reset_password(email, code, new or "")
        except Exception as ex:  # noqa: BLE001 - shown in words
            return error_text(ex)
        return None
