"""A customer moves their account to a new email address in Settings: the password is
asked, the code comes by email to the new address (the development mail folder), a
dialog closed to read the mail can be come back to, and after the change the app still
opens with the PIN it kept and shows the account; the new address signs in."""

from __future__ import annotations

import asyncio
import uuid

from playwright.async_api import expect

from client.views.common import EMAILED_CODE_LABEL
from client.views.email_change import (
    ALERTS_WORDS,
    NEW_EMAIL_LABEL,
    changed_words,
    waiting_words,
)
from e2e.ui import (
    TIMEOUT_MS,
    button,
    fill,
    keep_signed_in,
    kept_session,
    open_account,
    register,
    relaunch,
    shot,
    shows,
    tab,
    tap,
    unlock,
)
from infra.local.stack import EmbeddedStack
from tests.support.mailbox import mail_folder, wait_for_emailed_code

PIN = "735194"


async def test_a_customer_moves_to_a_new_email_and_the_device_keeps_up(
    phone, stack: EmbeddedStack
) -> None:
    ema = await register(await phone(), "Ema")
    await open_account(ema, "Household")
    page = ema.page
    await keep_signed_in(page, PIN)  # on Settings now
    new = f"ema.{uuid.uuid4().hex[:10]}@example.net"
    await expect(shows(page, ALERTS_WORDS)).to_be_visible(timeout=TIMEOUT_MS)

    await tap(page, "Change email")
    await fill(page, NEW_EMAIL_LABEL, new)
    await fill(page, "Your password", "not my password at all")
    await tap(page, "Email me a code")
    await expect(shows(page, "The password is wrong.")).to_be_visible(timeout=TIMEOUT_MS)
    await fill(page, "Your password", ema.password)
    await tap(page, "Email me a code")
    code = await asyncio.to_thread(wait_for_emailed_code, mail_folder(stack.env()), new)
    await expect(shows(page, "We emailed a code to the new address")).to_be_visible(
        timeout=TIMEOUT_MS
    )
    await shot(page, "email-change", "1-code-asked")

    # Closed to read the mail: Settings says what waits, and the code can be typed later.
    await tap(page, "Cancel")
    await expect(shows(page, waiting_words(new))).to_be_visible(timeout=TIMEOUT_MS)
    await tap(page, "Type the code")
    await fill(page, EMAILED_CODE_LABEL, code.replace("-", " "))  # as typed off the email
    await tap(page, "Confirm")
    await expect(shows(page, changed_words(new))).to_be_visible(timeout=TIMEOUT_MS)
    await expect(page.get_by_text(new, exact=True)).to_be_visible(timeout=TIMEOUT_MS)
    await expect(shows(page, waiting_words(new))).to_have_count(0)
    await shot(page, "email-change", "2-changed")
    stored = await kept_session(page)
    assert stored is not None and stored["email"] == new and stored["method"] == "pin"

    # The next launch opens with the same PIN and shows the account it kept.
    page = await relaunch(ema.phone)
    await unlock(page, PIN)
    await expect(shows(page, "Hello, Ema Example")).to_be_visible(timeout=TIMEOUT_MS)
    await expect(shows(page, "Household").first).to_be_visible(timeout=TIMEOUT_MS)

    # Signed out, the new address signs in.
    await tab(page, "Settings").click()
    await button(page, "Sign out").first.click()
    await expect(button(page, "Sign in")).to_be_visible(timeout=TIMEOUT_MS)
    await fill(page, "Email", new)
    await fill(page, "Password", ema.password)
    await tap(page, "Sign in")
    await expect(shows(page, "Hello, Ema Example")).to_be_visible(timeout=TIMEOUT_MS)
