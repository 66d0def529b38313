"""Settings section: the email address the customer signs in with, and moving it.

"Change email" asks for the new address and the password; the bank emails a code
there, and a second dialog takes it back (the change is made only then). The section
says which news the bank emails to the address on its own (security alerts). While a
change waits for its code the section says where it was sent and offers to type it in,
so a customer who closed the dialog to read their mail can come back to it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import flet as ft

from client.views.common import (
    EMAIL,
    EMAILED_CODE_HINT,
    ask,
    close,
    emailed_code_field,
    error_text,
    password_field,
    section_title,
    snack,
)
from shared.api import typed_emailed_code

if TYPE_CHECKING:
    from client.views.shell import Shell

NEW_EMAIL_LABEL = "New email"
# What the bank emails here without being asked (server/notifications/rules.MAILED_KINDS).
ALERTS_WORDS = (
    "We email you here whenever your password, this address or two-step sign-in changes,"
    " and tell your old address if this one changes."
)


def waiting_words(sent_to: str) -> str:
    return f"Waiting for the code we emailed to {sent_to}; your email changes only then."


def changed_words(email: str) -> str:
    return f"Your email is now {email}. Sign in with it from now on."


class EmailSection:
    def __init__(self, shell: Shell) -> None:
        self.shell = shell
        self.page = shell.page
        self.state = shell.state
        self.email = ft.Text("")
        self.waiting = ft.Text("", size=12, color=ft.Colors.ON_SURFACE_VARIANT)
        self.type_code = ft.TextButton("Type the code", on_click=self._type_code)
        self.control = ft.Column(
            [
                section_title("Email"),
                self.email,
                ft.Text(ALERTS_WORDS, size=12, color=ft.Colors.ON_SURFACE_VARIANT),
                self.waiting,
                ft.Row(
                    [
                        ft.OutlinedButton(
                            "Change email", icon=ft.Icons.ALTERNATE_EMAIL, on_click=self._start
                        ),
                        self.type_code,
                    ],
                    wrap=True,
                    spacing=8,
                ),
            ],
            spacing=8,
        )
        self.render()

    def render(self) -> None:
        pending = self.state.email_change_pending_to
        self.email.value = self.state.email or ""
        self.waiting.value = waiting_words(pending) if pending else ""
        self.waiting.visible = self.type_code.visible = bool(pending)

    async def _start(self, e: ft.Event[ft.OutlinedButton]) -> None:
        new = ft.TextField(label=NEW_EMAIL_LABEL, keyboard_type=ft.KeyboardType.EMAIL)
        password = password_field("Your password")
        error = ft.Text("", color=ft.Colors.ERROR, visible=False)

        async def send(ev: ft.Event[ft.TextButton]) -> None:
            typed = (new.value or "").strip()
            if not EMAIL.match(typed):
                error.value, error.visible = "Type the new email address.", True
            elif not password.value:
                error.value, error.visible = "Type your password.", True
            else:
                try:
                    said = await self.shell.ctrl.start_email_change(typed, password.value)
                except Exception as ex:  # noqa: BLE001 - shown in words
                    error.value, error.visible = error_text(ex), True
                else:
                    close(dialog)
                    self._ask_code(said)
                    return
            self.page.update()

        dialog = ask(
            self.page,
            "Change email",
            [
                ft.Text(
                    "We will email a code to the new address. Your email changes when you"
                    " type it in.",
                    size=13,
                ),
                new,
                password,
                error,
            ],
            ft.TextButton("Email me a code", on_click=send),
        )

    async def _type_code(self, e: ft.Event[ft.TextButton]) -> None:
        pending = self.state.email_change_pending_to
        self._ask_code(waiting_words(pending) if pending else "")

    def _ask_code(self, said: str) -> None:
        code = emailed_code_field()
        error = ft.Text("", color=ft.Colors.ERROR, visible=False)

        async def change(ev: ft.Event[ft.TextButton]) -> None:
            typed = typed_emailed_code(code.value)
            if typed is None:
                error.value, error.visible = EMAILED_CODE_HINT, True
                self.page.update()
                return
            try:
                email = await self.shell.ctrl.confirm_email_change(typed)
            except Exception as ex:  # noqa: BLE001 - shown in words
                error.value, error.visible = error_text(ex), True
                self.page.update()
                return
            close(dialog)
            snack(self.page, changed_words(email))

        dialog = ask(
            self.page,
            "Type the code",
            [ft.Text(said, size=13), code, error],
            ft.TextButton("Confirm", on_click=change),
        )
