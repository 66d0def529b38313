"""A customer turns two-step sign-in on in Settings with the key shown and a code from
their authenticator app (computed here as the app would), keeps the recovery codes shown
once, and is asked for a code the next time they sign in; with the phone lost, one of
the recovery codes signs them in."""

from __future__ import annotations

import base64
import re
import time

from playwright.async_api import expect

from client.views.two_step import (
    CODE_HINT,
    ON_WORDS,
    RECOVERY_CODES_TITLE,
    SIGN_IN_CODE_HELP,
    SIGN_IN_CODE_LABEL,
    SIGN_IN_RECOVERY_LABEL,
    USE_RECOVERY_CODE,
    recovery_codes_left_words,
)
from e2e.ui import TIMEOUT_MS, fill, register, shot, shows, tab, tap
from server.application.totp import code_at, step_at

KEY = re.compile(r"^[A-Z2-7]{4}( [A-Z2-7]{4}){7}$")  # 160 bits in base32, grouped
RECOVERY_CODE = re.compile(r"^[A-HJ-NP-Z2-9]{5}-[A-HJ-NP-Z2-9]{5}$")


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
    # The recovery codes, shown this once.
    await expect(shows(page, RECOVERY_CODES_TITLE)).to_be_visible(timeout=TIMEOUT_MS)
    recovery = page.get_by_text(RECOVERY_CODE)
    await expect(recovery).to_have_count(10, timeout=TIMEOUT_MS)
    codes = [await recovery.nth(i).inner_text() for i in range(10)]
    assert len(set(codes)) == 10, codes
    await shot(page, "two-step", "2-recovery-codes")
    await tap(page, "I have kept them")
    await expect(shows(page, ON_WORDS)).to_be_visible(timeout=TIMEOUT_MS)
    await expect(shows(page, recovery_codes_left_words(10))).to_be_visible(timeout=TIMEOUT_MS)
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

    # The phone is lost: a recovery code signs her in, once.
    await tab(page, "Settings").click()
    await tap(page, "Sign out")
    await fill(page, "Email", tess.email)
    await fill(page, "Password", tess.password)
    await tap(page, "Sign in")
    await tap(page, USE_RECOVERY_CODE)
    await fill(page, SIGN_IN_RECOVERY_LABEL, codes[3].lower())
    await shot(page, "two-step", "4-recovery-code")
    await tap(page, "Sign in")
    await expect(shows(page, "Hello, Tess Example")).to_be_visible(timeout=TIMEOUT_MS)
    await tab(page, "Settings").click()
    await expect(shows(page, recovery_codes_left_words(9))).to_be_visible(timeout=TIMEOUT_MS)
    # A new set, for a code (here another recovery code: the phone is still lost).
    await tap(page, "New recovery codes")
    await fill(page, "App code or recovery code", codes[4])
    await tap(page, "Make new codes")
    await expect(recovery).to_have_count(10, timeout=TIMEOUT_MS)
    fresh = [await recovery.nth(i).inner_text() for i in range(10)]
    assert not set(fresh) & set(codes), fresh
    await tap(page, "I have kept them")
    await expect(shows(page, recovery_codes_left_words(10))).to_be_visible(timeout=TIMEOUT_MS)
