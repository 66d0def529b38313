"""A customer sets up a standing order in the app (Payments > Standing orders, or an
account's own screen), sees it in their own words, and cancels it, or closes the account
it pays from; the bank has it as they saw it."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import expect

from e2e.test_customer_journeys import _deposit
from e2e.ui import (
    TIMEOUT_MS,
    Customer,
    bank_session,
    button,
    fill,
    open_account,
    register,
    shot,
    shows,
    tab,
    tap,
)
from infra.local.stack import EmbeddedStack
from tests.support.scheduler import Scheduler


async def test_a_monthly_standing_order_is_set_up_and_cancelled(phone, api_url: str) -> None:
    gus = await register(await phone(), "Gus")
    await open_account(gus, "Everyday")
    page = gus.page
    await _deposit(gus, "100.00", "100.00 EUR")
    auth, everyday = await bank_session(api_url, gus)
    await tab(page, "Home").click()
    savings = await open_account(gus, "Savings")

    await tab(page, "Payments").click()
    await expect(shows(page, "No standing orders")).to_be_visible(timeout=TIMEOUT_MS)
    await tap(page, "New standing order")
    await fill(page, "To account number", savings)
    await fill(page, "Amount each time", "25.00")
    await fill(page, "Number of payments", "0")
    await tap(page, "Set up")
    await expect(shows(page, "From 1 to 1200 payments")).to_be_visible(timeout=TIMEOUT_MS)
    await fill(page, "Number of payments", "6")
    await shot(page, "standing-order", "0-form")
    await tap(page, "Set up")
    tile = page.get_by_role(  # a list tile that opens details is one button named by its lines
        "button",
        name=re.compile(
            r"^25\.00 EUR every month to Savings Next .* · 6 payments · from Everyday$"
        ),
    )
    await expect(tile).to_be_visible(timeout=TIMEOUT_MS)
    await shot(page, "standing-order", "1-set-up")

    async with httpx.AsyncClient(base_url=f"{api_url}/api/v1", timeout=10) as http:
        orders = (await http.get("/standing-orders", headers=auth)).json()["items"]
        assert [
            (o["from_account_id"], o["to_account_number"], o["amount"], o["count"], o["status"])
            for o in orders
        ] == [(everyday, savings, 25_00, 6, "active")]

        # Its details offer Change: a new amount from the next payment on.
        await tile.click()
        await expect(shows(page, "None yet")).to_be_visible(timeout=TIMEOUT_MS)  # no payment
        await tap(page, "Change")
        await fill(page, "Amount each time", "30.00")
        await fill(page, "Reference (optional)", "Pocket money")
        await shot(page, "standing-order", "1-change")
        await tap(page, "Save")
        tile = page.get_by_role(
            "button", name=re.compile(r"^30\.00 EUR every month to Savings Next .* · 6 payments")
        )
        await expect(tile).to_be_visible(timeout=TIMEOUT_MS)
        orders = (await http.get("/standing-orders", headers=auth)).json()["items"]
        assert [(o["amount"], o["description"]) for o in orders] == [(30_00, "Pocket money")]

        await tile.get_by_role("button", name="Cancel").click()
        await expect(shows(page, "Cancel standing order?")).to_be_visible(timeout=TIMEOUT_MS)
        await tap(page, "Cancel order")
        await expect(shows(page, "No standing orders")).to_be_visible(timeout=TIMEOUT_MS)
        await expect(button(page, "Cancel")).to_have_count(0)
        orders = (await http.get("/standing-orders", headers=auth)).json()["items"]
        assert [o["status"] for o in orders] == ["cancelled"]
    await tab(page, "Home").click()


async def test_an_accounts_screen_sets_up_its_orders_and_closing_it_ends_them(
    phone, api_url: str
) -> None:
    ida = await register(await phone(), "Ida")
    everyday = await open_account(ida, "Everyday")
    page = ida.page
    await tab(page, "Home").click()
    await open_account(ida, "Savings")  # its screen stays open
    auth, savings_id = await bank_session(api_url, ida)

    await expect(shows(page, "No standing orders from or to this account")).to_be_visible(
        timeout=TIMEOUT_MS
    )
    await tap(page, "New standing order")
    await fill(page, "To account number", everyday)  # the form pays from Savings itself
    await fill(page, "Amount each time", "10.00")
    await fill(page, "Number of payments", "3")
    await tap(page, "Set up")
    tile = page.get_by_role(
        "button",
        name=re.compile(
            r"^10\.00 EUR every month to Everyday Next .* · 3 payments · from Savings$"
        ),
    )
    await expect(tile).to_be_visible(timeout=TIMEOUT_MS)
    await shot(page, "standing-order", "2-on-the-account")

    async with httpx.AsyncClient(base_url=f"{api_url}/api/v1", timeout=10) as http:
        orders = (await http.get("/standing-orders", headers=auth)).json()["items"]
        assert [(o["from_account_id"], o["to_account_number"], o["status"]) for o in orders] == [
            (savings_id, everyday, "active")
        ]

        await tap(page, "Close account")  # the account is empty: it closes, ending its order
        await expect(shows(page, re.compile("Its standing order will be cancelled"))).to_be_visible(
            timeout=TIMEOUT_MS
        )
        await button(page, "Close account").last.click()  # the dialog's
        await expect(shows(page, "Account closed")).to_be_visible(timeout=TIMEOUT_MS)
        await expect(tile).to_have_count(0, timeout=TIMEOUT_MS)
        await expect(button(page, "New standing order")).to_have_count(0)
        orders = (await http.get("/standing-orders", headers=auth)).json()["items"]
        assert [o["status"] for o in orders] == ["cancelled"]
    await tab(page, "Home").click()


async def with_everyday_and_savings(
    phone, api_url: str, name: str
) -> tuple[Customer, dict[str, str], str, str]:
    """A new customer on Home, their bearer header, the id of their empty Everyday
    account and the number of their Savings account."""
    customer = await register(await phone(), name)
    await open_account(customer, "Everyday")
    auth, everyday = await bank_session(api_url, customer)
    await tab(customer.page, "Home").click()
    savings = await open_account(customer, "Savings")
    return customer, auth, everyday, savings


async def order_over_api(
    http: httpx.AsyncClient, auth: dict[str, str], source: str, to_number: str, **order: Any
) -> dict[str, Any]:
    made = await http.post(
        "/standing-orders/by-account-number",
        json={"from_account": source, "to_account_number": to_number, **order},
        headers={**auth, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert made.status_code == 201, made.text
    return made.json()  # type: ignore[no-any-return]


async def test_home_shows_the_payments_due_within_a_week(phone, api_url: str) -> None:
    joy, auth, everyday, savings = await with_everyday_and_savings(phone, api_url, "Joy")
    page = joy.page
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)  # the bank's days and the app's
    async with httpx.AsyncClient(base_url=f"{api_url}/api/v1", timeout=10) as http:
        for amount, first in ((25_00, tomorrow), (40_00, tomorrow + timedelta(days=20))):
            monthly = {"frequency": "monthly", "start_date": first.isoformat(), "count": 3}
            await order_over_api(http, auth, everyday, savings, amount=amount, **monthly)

    await tab(page, "Payments").click()
    await tab(page, "Home").click()
    await expect(shows(page, "Upcoming")).to_be_visible(timeout=TIMEOUT_MS)
    due = page.get_by_role(
        "button",
        name=re.compile(r"^25\.00 EUR to Savings Tomorrow · from Everyday · not enough money yet$"),
    )
    await expect(due).to_be_visible(timeout=TIMEOUT_MS)
    await expect(shows(page, "40.00 EUR to Savings")).to_have_count(0)  # not within a week
    await shot(page, "standing-order", "3-upcoming")
    await due.click()  # the paying account, where the order can be cancelled
    await expect(
        page.get_by_role("button", name=re.compile(r"^25\.00 EUR every month to Savings Next "))
    ).to_be_visible(timeout=TIMEOUT_MS)
    await tab(page, "Home").click()


async def test_a_suspended_order_is_resumed_from_the_app(
    phone, api_url: str, stack: EmbeddedStack, tmp_path: Path
) -> None:
    """Three payments refused (nothing on the account) suspend the order; Home says so at
    once and leads to the paying account, where the customer reads the refusals and
    resumes the order: it pays again from its next date."""
    kit, auth, everyday, savings = await with_everyday_and_savings(phone, api_url, "Kit")
    page = kit.page
    first = datetime.now(UTC).date() + timedelta(days=1)
    weekly = {"frequency": "weekly", "start_date": first.isoformat(), "count": 10}
    async with httpx.AsyncClient(base_url=f"{api_url}/api/v1", timeout=10) as http:
        made = await order_over_api(http, auth, everyday, savings, amount=5_00, **weekly)
        order_id = made["id"]
        await tab(page, "Home").click()
        await expect(
            page.get_by_role("button", name=re.compile(r"^5\.00 EUR to Savings Tomorrow · "))
        ).to_be_visible(timeout=TIMEOUT_MS)
        Scheduler(stack, tmp_path / "today").once_at(first + timedelta(weeks=2))
        got = (await http.get(f"/standing-orders/{order_id}", headers=auth)).json()
        assert got["status"] == "suspended", got

        # The refusals pushed to the phone make Home ask for the orders again.
        stopped = page.get_by_role(
            "button",
            name="5.00 EUR to Savings Suspended: pays nothing until you resume it · from Everyday",
        )
        await expect(stopped).to_be_visible(timeout=TIMEOUT_MS)
        await shot(page, "standing-order", "4-suspended")
        await stopped.click()  # the paying account, where the order is
        tile = page.get_by_role(
            "button",
            name=re.compile(r"^5\.00 EUR every week to Savings Suspended: payments were refused"),
        )
        await expect(tile).to_be_visible(timeout=TIMEOUT_MS)
        await tile.click()  # its details: the three payments the bank refused, and why
        refused = shows(page, re.compile(r"^\d+ \w+ \d{4} · not enough money in the account$"))
        await expect(shows(page, "Suspended: payments were refused")).to_be_visible(
            timeout=TIMEOUT_MS
        )
        await expect(
            page.get_by_text(re.compile(r" · not enough money in the account$"))
        ).to_have_count(3)
        await expect(refused).to_have_text(
            f"{first + timedelta(weeks=2):%-d %b %Y} · not enough money in the account"
        )
        await shot(page, "standing-order", "5-details")
        await tap(page, "Close")
        await tile.get_by_role("button", name="Resume").click()
        await expect(shows(page, "Resume standing order?")).to_be_visible(timeout=TIMEOUT_MS)
        await tap(page, "Resume payments")
        fourth = first + timedelta(weeks=3)  # the first date from today on
        await expect(
            page.get_by_role(
                "button",
                name=re.compile(
                    rf"^5\.00 EUR every week to Savings Next {fourth.day} {fourth:%b %Y} · "
                ),
            )
        ).to_be_visible(timeout=TIMEOUT_MS)
        await expect(button(page, "Resume")).to_have_count(0)
        got = (await http.get(f"/standing-orders/{order_id}", headers=auth)).json()
        assert (got["status"], got["next_due"], got["refusals_in_row"]) == (
            "active",
            fourth.isoformat(),
            0,
        )
        cancelled = await http.post(f"/standing-orders/{order_id}/cancel", headers=auth)
        assert cancelled.status_code == 200, cancelled.text  # nothing left due for others
    await tab(page, "Home").click()
