"""A customer changes their password in the app: a wrong current password is refused in
words, the right one changes it, and every other device is signed out while this one
stays signed in."""

from __future__ import annotations

import httpx
from playwright.async_api import expect

from e2e.ui import TIMEOUT_MS, bank_session, button, fill, register, shot, shows, tab, tap

NEW_PASSWORD = "a quite different passphrase"


async def test_changing_the_password_signs_out_the_other_devices(phone, api_url: str) -> None:
    petra = await register(await phone(), "Petra")
    elsewhere, _ = await bank_session(api_url, petra)  # another device, signed in
    page = petra.page
    await tab(page, "Settings").click()
    await tap(page, "Change password")

    await fill(page, "Current password", "not my password at all")
    await fill(page, "New password", NEW_PASSWORD)
    await fill(page, "New password again", NEW_PASSWORD)
    await tap(page, "Change")
    await expect(shows(page, "The current password is wrong.")).to_be_visible(timeout=TIMEOUT_MS)
    await shot(page, "password", "1-wrong-current")

    await fill(page, "Current password", petra.password)
    await tap(page, "Change")
    await expect(shows(page, "Password changed. 1 other device signed out.")).to_be_visible(
        timeout=TIMEOUT_MS
    )
    await shot(page, "password", "2-changed")
    await expect(button(page, "Change")).to_have_count(0)  # the dialog closed

    async with httpx.AsyncClient(base_url=f"{api_url}/api/v1", timeout=10) as http:
        assert (await http.get("/me", headers=elsewhere)).status_code == 401
        old = {"grant_type": "password", "username": petra.email, "password": petra.password}
        assert (await http.post("/auth/token", data=old)).status_code == 400
        new = {**old, "password": NEW_PASSWORD}
        assert (await http.post("/auth/token", data=new)).status_code == 200
    await tab(page, "Home").click()  # this device is still signed in
    await expect(shows(page, "Hello, Petra Example")).to_be_visible(timeout=TIMEOUT_MS)
