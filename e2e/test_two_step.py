"""A customer turns two-step sign-in on in Settings with the key shown and a code from
their authenticator app (computed here as the app would), and is asked for a code the
next time they sign in."""

from __future__ import annotations

import base64
import re
import time

from playwright.async_api import expect

from client.views.two_step import CODE_HINT, ON_WORDS, SIGN_IN_CODE_HELP, SIGN_IN_CODE_LABEL
from e2e.ui import TIMEOUT_MS, fill, register, shot, shows, tab, tap
from server.application.totp import code_at, step_at

KEY = re.compile(r"^[A-Z2-7]{4}( [A-Z2-7]{4}){7}$")  # 160 bits in base32, grouped


async def test_two_step_sign_in_is_turned_on_and_then_asked_for(phone) -> None:
    tess = await register(await phone(), "Tess")
    page = tess.page
    await tab(page, "Settings").click()
    await tap(page, "Turn on two-step sign-in")
    key = shows(page, KEY)
    await expect(key).to_be_visible(timeout=TIMEOUT_MS)
    text = (await key.inner_text()).replace(" ", "")
    secret = base64.b32decode(text + "=" * (-len(text) % 8))
    await shot(page, "two-step", "1-key")

    await fill(page, "6-digit code", "12345")
    await tap(page, "Turn on")
    await expect(shows(page, CODE_HINT)).to_be_visible(timeout=TIMEOUT_MS)
    confirmed = step_at(time.time())
    await fill(page, "6-digit code", code_at(secret, confirmed))
    await tap(page, "Turn on")
    await expect(shows(page, ON_WORDS)).to_be_visible(timeout=TIMEOUT_MS)
    await shot(page, "two-step", "2-on")

    await tap(page, "Sign out")
    await fill(page, "Email", tess.email)
    await fill(page, "Password", tess.password)
    await tap(page, "Sign in")
    # The password was right: the code is asked for.
    await expect(shows(page, SIGN_IN_CODE_HELP)).to_be_visible(timeout=TIMEOUT_MS)
    await shot(page, "two-step", "3-asked")
    # The code that confirmed it was used: the app's next one (a code is taken once).
    await fill(page, SIGN_IN_CODE_LABEL, code_at(secret, confirmed))
    await tap(page, "Sign in")
    await expect(shows(page, re.compile("^That code is wrong or was used already"))).to_be_visible(
        timeout=TIMEOUT_MS
    )
    step = max(step_at(time.time()), confirmed + 1)
    await fill(page, SIGN_IN_CODE_LABEL, code_at(secret, step))
    await tap(page, "Sign in")
    await expect(shows(page, "Hello, Tess Example")).to_be_visible(timeout=TIMEOUT_MS)
