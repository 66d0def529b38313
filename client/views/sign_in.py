"""Sign in and register."""

from __future__ import annotations

import flet as ft

from client.api import ApiError
from client.controller import Controller
from client.state import AppState, Topic
from client.views.common import EMAIL, error_text, password_field, take_submitted
from client.views.password_reset import PasswordReset
from client.views.two_step import (
    SIGN_IN_CODE_HELP,
    SIGN_IN_CODE_LABEL,
    SIGN_IN_RECOVERY_HELP,
    SIGN_IN_RECOVERY_LABEL,
    USE_RECOVERY_CODE,
    code_field,
    typed_code_or_recovery_code,
)
from shared.api import PASSWORD_MIN_LENGTH


class SignInScreen:
    def __init__(self, page: ft.Page, state: AppState, ctrl: Controller) -> None:
        self.page = page
        self.state = state
        self.ctrl = ctrl
        self.registering = False
        self.email = ft.TextField(
            label="Email",
            keyboard_type=ft.KeyboardType.EMAIL,
            prefix_icon=ft.Icons.MAIL_OUTLINE,
            on_submit=self._submit,
        )
        self.password = password_field(
            "Password",
            prefix_icon=ft.Icons.LOCK_OUTLINE,
            on_submit=self._submit,
        )
        # Asked for once the bank says this customer's sign-in takes a code as well.
        self.code = code_field(SIGN_IN_CODE_LABEL, width=None)
        self.code.prefix_icon = ft.Icons.PIN_OUTLINED
        self.code.visible = False
        self.code.on_submit = self._submit
        # A customer whose phone is lost types one of their recovery codes instead.
        self.use_recovery = ft.TextButton(
            USE_RECOVERY_CODE, on_click=self._recovery_code, visible=False
        )
        self.full_name = ft.TextField(
            label="Full name",
            prefix_icon=ft.Icons.PERSON_OUTLINE,
            visible=False,
            capitalization=ft.TextCapitalization.WORDS,
        )
        self.message = ft.Text(state.notice, color=ft.Colors.ERROR, visible=bool(state.notice))
        self.busy = ft.ProgressRing(width=20, height=20, stroke_width=2, visible=False)
        self.submit = ft.FilledButton("Sign in", on_click=self._submit, expand=True)
        self.switch = ft.TextButton("New here? Create an account", on_click=self._toggle)
        self.reset = PasswordReset(page, ctrl, self._password_was_reset)
        self.forgot = ft.TextButton("Forgot your password?", on_click=self._forgot)
        self.heading = ft.Text("Welcome back", theme_style=ft.TextThemeStyle.HEADLINE_SMALL)
        self.control = ft.Container(
            ft.Column(
                [
                    ft.Container(height=24),
                    ft.Container(
                        ft.Icon(ft.Icons.ACCOUNT_BALANCE, size=40, color=ft.Colors.ON_PRIMARY),
                        bgcolor=ft.Colors.PRIMARY,
                        border_radius=20,
                        padding=16,
                    ),
                    ft.Text("Northwind Bank", theme_style=ft.TextThemeStyle.TITLE_LARGE),
                    self.heading,
                    ft.Container(height=8),
                    self.email,
                    self.password,
                    self.code,
                    self.use_recovery,
                    self.full_name,
                    self.message,
                    ft.Row([self.submit, self.busy]),
                    self.forgot,
                    self.switch,
                    ft.Text(
                        f"Server: {state.api_url}", size=11, color=ft.Colors.ON_SURFACE_VARIANT
                    ),
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

    def _toggle(self, e: ft.Event[ft.TextButton]) -> None:
        self.registering = not self.registering
        self.full_name.visible = self.registering
        self.forgot.visible = not self.registering
        self._ask_no_code()
        self.submit.content = "Create account" if self.registering else "Sign in"
        self.heading.value = "Open your account" if self.registering else "Welcome back"
        self.switch.content = (
            "Already a customer? Sign in" if self.registering else "New here? Create an account"
        )
        self.message.visible = False
        self.page.update()

    def _ask_code(self) -> None:
        """The password was right: the app's code is asked for (or a recovery code)."""
        self.code.visible, self.use_recovery.visible = True, True
        self.code.helper = SIGN_IN_CODE_HELP

    def _ask_no_code(self) -> None:
        self.code.visible, self.code.value, self.use_recovery.visible = False, "", False
        self.code.label, self.code.keyboard_type = SIGN_IN_CODE_LABEL, ft.KeyboardType.NUMBER
        self.code.prefix_icon = ft.Icons.PIN_OUTLINED

    async def _recovery_code(self, e: ft.Event[ft.TextButton]) -> None:
        self.code.label, self.code.helper = SIGN_IN_RECOVERY_LABEL, SIGN_IN_RECOVERY_HELP
        self.code.keyboard_type = ft.KeyboardType.TEXT  # letters as well
        self.code.prefix_icon = ft.Icons.KEY_OUTLINED
        self.code.value, self.code.error, self.use_recovery.visible = "", None, False
        self.page.update()
        await self.code.focus()

    def _forgot(self, e: ft.Event[ft.TextButton]) -> None:
        self.reset.start((self.email.value or "").strip())

    async def _password_was_reset(self, email: str) -> None:
        """Back on the form: the email filled in, the new password to type."""
        self.email.value, self.password.value = email, ""
        self._ask_no_code()
        self.message.visible = False
        self.page.update()
        await self.password.focus()

    def _validate(self) -> bool:
        ok = True
        for f in (self.email, self.password, self.full_name, self.code):
            f.error = None
        if not EMAIL.match(self.email.value.strip()):
            self.email.error = "Enter a valid email address"
            ok = False
        if not self.password.value:
            self.password.error = "Enter your password"
            ok = False
        elif self.registering and len(self.password.value) < PASSWORD_MIN_LENGTH:
            self.password.error = f"Use at least {PASSWORD_MIN_LENGTH} characters"
            ok = False
        if self.code.visible and typed_code_or_recovery_code(self.code.value) is None:
            self.code.error = self.code.helper
            ok = False
        if self.registering and not self.full_name.value.strip():
            self.full_name.error = "Enter your name"
            ok = False
        return ok

    async def _submit(self, e: ft.Event[ft.TextField] | ft.Event[ft.Button]) -> None:
        take_submitted(e)
        self.message.visible = False
        if not self._validate():
            self.page.update()
            return
        self.busy.visible = True
        self.submit.disabled = True
        self.page.update()
        email, password = self.email.value.strip(), self.password.value
        try:
            if self.registering:
                await self.ctrl.register(email, password, self.full_name.value.strip())
            else:
                otp = typed_code_or_recovery_code(self.code.value) if self.code.visible else None
                await self.ctrl.sign_in(email, password, otp or "")
            return  # the shell swaps this screen out
        except ApiError as err:
            if err.code == "two_step_required":  # the password was right: not an error
                self._ask_code()
                self._ready_again()
                await self.code.focus()  # the next thing to type
                return
            elif err.code == "wrong_two_step_code":  # the bank's words: app or recovery code
                self.code.value = ""
                text = err.reason
            elif err.status in (400, 401) and not self.registering:
                text = "Wrong email or password."
            elif err.status == 409:
                text = "An account with this email already exists. Sign in instead."
            else:
                text = err.reason
        except Exception as err:  # noqa: BLE001 - shown to the customer in words
            text = error_text(err)
        self.message.value = text
        self.message.visible = True
        self._ready_again()

    def _ready_again(self) -> None:
        self.busy.visible = False
        self.submit.disabled = False
        self.page.update()
