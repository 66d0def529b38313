"""A customer who forgot their password asks the sign-in screen for a code, reads it in
the email the bank sent (the development mail folder), and sets a new password with it."""

from __future__ import annotations

import asyncio

from playwright.async_api import expect

from client.views.common import EMAILED_CODE_HINT, EMAILED_CODE_LABEL
from client.views.password_reset import DONE
from e2e.ui import TIMEOUT_MS, fill, register, shot, shows, tab, tap
from infra.local.stack import EmbeddedStack
from tests.support.mailbox import mail_folder, wait_for_emailed_code

NEW_PASSWORD = "my new and longer passphrase"


async def test_a_forgotten_password_is_reset_with_the_code_from_the_email(
    phone, stack: EmbeddedStack
) -> None:
    uma = await register(await phone(), "Uma")
    page = uma.page
    await tab(page, "Settings").click()
    await tap(page, "Sign out")

    await tap(page, "Forgot your password?")
    await fill(page, "Your email", uma.email)
    await tap(page, "Email me a code")
    code = await asyncio.to_thread(wait_for_emailed_code, mail_folder(stack.env()), uma.email)
    await expect(shows(page, "If an account has this email")).to_be_visible(timeout=TIMEOUT_MS)
    await shot(page, "password-reset", "1-code-asked")

    await fill(page, EMAILED_CODE_LABEL, "ABCD-EFG")  # one character short
    await fill(page, "New password", NEW_PASSWORD)
    await tap(page, "Set password")
    await expect(shows(page, EMAILED_CODE_HINT)).to_be_visible(timeout=TIMEOUT_MS)
    await fill(page, EMAILED_CODE_LABEL, code.replace("-", ""))  # without the hyphen
    await tap(page, "Set password")
    await expect(shows(page, DONE)).to_be_visible(timeout=TIMEOUT_MS)
    await shot(page, "password-reset", "2-done")

    # Back on the sign-in form with the email filled in: the new password signs in.
    await fill(page, "Password", NEW_PASSWORD)
    await tap(page, "Sign in")
    await expect(shows(page, "Hello, Uma Example")).to_be_visible(timeout=TIMEOUT_MS)
