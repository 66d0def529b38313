"""GraphQL parity for the banking of issue #17 against the real stack: holds (place,
post, void, list), payees (add, list, remove, pay by account number) and standing
orders (create, list, read with occurrences, cancel), through the same application
functions, idempotency scopes and codes as REST."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from infra.local.procs import ManagedProcess
from infra.local.stack import EmbeddedStack
from runtime.settings import Settings
from server.application.standing_order_payments import occurrence_transfer_id
from tests.contract.graphql_client import GraphQL
from tests.support.customers import Customer, sign_up
from tests.support.scheduler import Scheduler
from tests.support.staff import audit_rows, staff

OPEN = """mutation($name: String!) { openAccount(currency: "EUR", name: $name) { id } }"""
DEPOSIT = """mutation($id: UUID!, $amount: MinorUnits!, $key: String!) {
  deposit(accountId: $id, amount: $amount, idempotencyKey: $key) { version }
}"""
WITHDRAW = """mutation($id: UUID!, $amount: MinorUnits!, $key: String!) {
  withdraw(accountId: $id, amount: $amount, idempotencyKey: $key) {
    balance { amount } availableBalance { amount } }
}"""
HOLD_FIELDS = """holdId accountId status amount { amount currency } expiresAt
  balance { amount } availableBalance { amount } postedAmount { amount } toAccountId
  description version replayed"""
PLACE = f"""mutation($id: UUID!, $amount: MinorUnits!, $key: String!, $to: String,
                   $expires: Int) {{
  placeHold(accountId: $id, amount: $amount, idempotencyKey: $key, description: "card",
            toAccount: $to, expiresInSeconds: $expires) {{ {HOLD_FIELDS} }}
}}"""
POST = f"""mutation($id: UUID!, $hold: UUID!, $key: String!, $amount: MinorUnits) {{
  postHold(accountId: $id, holdId: $hold, amount: $amount, idempotencyKey: $key) {{
    {HOLD_FIELDS} }}
}}"""
VOID = f"""mutation($id: UUID!, $hold: UUID!, $key: String!) {{
  voidHold(accountId: $id, holdId: $hold, idempotencyKey: $key) {{ {HOLD_FIELDS} }}
}}"""
HOLDS = """query($id: UUID!) {
  holds(accountId: $id) { holdId accountId status amount { amount } description toAccountId }
  balance(accountId: $id) { balance { amount } availableBalance { amount } }
}"""
ADD_PAYEE = """mutation($number: String!, $name: String!, $nick: String!) {
  addPayee(accountNumber: $number, holderName: $name, nickname: $nick) {
    accountNumber nickname nameMatch }
}"""
PAY = """mutation($from: String!, $to: String!, $amount: MinorUnits!, $key: String!) {
  payToAccountNumber(fromAccount: $from, toAccountNumber: $to, amount: $amount,
                     idempotencyKey: $key, description: "rent") {
    transferId balance { amount } replayed }
}"""

TRANSACTION = """query($account: UUID!, $transaction: UUID!) {
  transaction(accountId: $account, transactionId: $transaction) {
    kind amount { amount } description counterpartyAccountNumber }
}"""


async def _customer(http: httpx.AsyncClient, name: str) -> tuple[Customer, GraphQL]:
    person = await sign_up(http, name)
    return person, GraphQL(http, person.token)


async def _funded(gql: GraphQL, amount: int) -> str:
    account: str = (await gql.data(OPEN, name="Everyday"))["openAccount"]["id"]
    await gql.data(DEPOSIT, id=account, amount=amount, key=str(uuid.uuid4()))
    return account


async def _rest_balances(person: Customer, account: str) -> tuple[int, int]:
    r = await person.http.get(f"/api/v1/accounts/{account}/balance", headers=person.auth)
    assert r.status_code == 200, r.text
    body = r.json()
    return body["balance"]["amount"], body["available_balance"]["amount"]


async def _gql_balances(gql: GraphQL, account: str) -> tuple[tuple[int, int], list[Any]]:
    data = await gql.data(HOLDS, id=account)
    b = data["balance"]
    return (b["balance"]["amount"], b["availableBalance"]["amount"]), data["holds"]


async def test_a_card_hold_is_placed_posted_for_less_and_voided_over_graphql(
    http: httpx.AsyncClient, stack: EmbeddedStack
) -> None:
    ada, gql = await _customer(http, "Ada Holder")
    account = await _funded(gql, 10_000)

    key = str(uuid.uuid4())
    held = (await gql.data(PLACE, id=account, amount=3_000, key=key))["placeHold"]
    assert held["status"] == "PENDING" and not held["replayed"]
    assert (held["balance"]["amount"], held["availableBalance"]["amount"]) == (10_000, 7_000)
    assert held["amount"] == {"amount": 3_000, "currency": "EUR"}
    again = (await gql.data(PLACE, id=account, amount=3_000, key=key))["placeHold"]
    assert again == {**held, "replayed": True}  # exactly once
    # The same key over REST is the same command: answered from the first time.
    rest = await http.post(
        f"/api/v1/accounts/{account}/holds",
        json={"amount": 3_000, "description": "card"},
        headers={**ada.auth, "Idempotency-Key": key},
    )
    assert rest.status_code == 201 and rest.headers.get("idempotent-replayed") == "true"
    assert rest.json()["hold_id"] == held["holdId"]

    (balances, listed) = await _gql_balances(gql, account)
    assert balances == (10_000, 7_000) == await _rest_balances(ada, account)
    assert [(h["holdId"], h["status"], h["amount"]["amount"]) for h in listed] == [
        (held["holdId"], "PENDING", 3_000)
    ]

    post_key = str(uuid.uuid4())
    posted = await gql.data(POST, id=account, hold=held["holdId"], key=post_key, amount=2_200)
    p = posted["postHold"]
    assert (p["status"], p["postedAmount"], p["replayed"]) == ("POSTED", {"amount": 2_200}, False)
    assert (p["balance"]["amount"], p["availableBalance"]["amount"]) == (7_800, 7_800)
    replay = await gql.data(POST, id=account, hold=held["holdId"], key=post_key, amount=2_200)
    assert replay["postHold"] == {**p, "replayed": True}
    (balances, listed) = await _gql_balances(gql, account)
    assert balances == (7_800, 7_800) == await _rest_balances(ada, account) and listed == []

    second = (await gql.data(PLACE, id=account, amount=800, key=str(uuid.uuid4())))["placeHold"]
    assert second["availableBalance"]["amount"] == 7_000
    # A payment beside the hold answers what is left to spend as well as the balance.
    paid = await gql.data(WITHDRAW, id=account, amount=500, key=str(uuid.uuid4()))
    w = paid["withdraw"]
    assert (w["balance"]["amount"], w["availableBalance"]["amount"]) == (7_300, 6_500)
    voided = await gql.data(VOID, id=account, hold=second["holdId"], key=str(uuid.uuid4()))
    v = voided["voidHold"]
    assert (v["status"], v["balance"]["amount"], v["availableBalance"]["amount"]) == (
        "VOIDED",
        7_300,
        7_300,
    )
    assert (await _rest_balances(ada, account)) == (7_300, 7_300)
    # Posting a voided hold is refused with REST's code, not a server error.
    err = await gql.error(POST, id=account, hold=second["holdId"], key=str(uuid.uuid4()))
    assert err["extensions"]["code"] == "hold_not_pending", err
    assert err["extensions"]["status"] == 409, err

    auditor = await staff(http, stack, "auditor", "Aud Holds")
    rows = await audit_rows(http, auditor, account=account)
    hold_rows = [r for r in rows if r["action"].endswith("_hold")]
    assert {r["actor_id"] for r in hold_rows} == {ada.user_id}
    # Oldest first: each command once, replays (GraphQL and REST) and the refusal too.
    assert [(r["action"], r["outcome"]) for r in reversed(hold_rows)] == [
        ("place_hold", "accepted"),
        ("place_hold", "replayed"),
        ("place_hold", "replayed"),
        ("post_hold", "accepted"),
        ("post_hold", "replayed"),
        ("place_hold", "accepted"),
        ("void_hold", "accepted"),
        ("post_hold", "rejected"),
    ]
    assert hold_rows[0]["reason_code"] == "hold_not_pending"


async def test_a_pending_transfer_hold_to_another_account_posts_to_it(
    http: httpx.AsyncClient,
) -> None:
    _, ada_gql = await _customer(http, "Ada Pending")
    bob, bob_gql = await _customer(http, "Bob Pending")
    ada_account = await _funded(ada_gql, 5_000)
    bob_account = (await bob_gql.data(OPEN, name="Savings"))["openAccount"]["id"]
    held = await ada_gql.data(
        PLACE, id=ada_account, amount=1_500, key=str(uuid.uuid4()), to=bob_account, expires=3600
    )
    hold = held["placeHold"]
    assert hold["toAccountId"] == bob_account
    assert await bob.balance(bob_account) == 0  # pending: nothing arrived yet
    await ada_gql.data(POST, id=ada_account, hold=hold["holdId"], key=str(uuid.uuid4()))
    assert await bob.balance(bob_account) == 1_500


async def test_holds_refuse_bad_input_and_another_customers_account_with_a_code(
    http: httpx.AsyncClient,
) -> None:
    _, ada_gql = await _customer(http, "Ada Careful")
    _, eve_gql = await _customer(http, "Eve Holds")
    account = await _funded(ada_gql, 1_000)
    cases: list[tuple[GraphQL, str, dict[str, Any], str | None]] = [
        (
            eve_gql,
            PLACE,
            {"id": account, "amount": 10, "key": str(uuid.uuid4())},
            "account_not_found",
        ),
        (eve_gql, HOLDS, {"id": account}, "account_not_found"),
        (ada_gql, PLACE, {"id": account, "amount": 0, "key": str(uuid.uuid4())}, "invalid_body"),
        (
            ada_gql,
            PLACE,
            {"id": account, "amount": 5_000, "key": str(uuid.uuid4())},
            "insufficient_funds",
        ),
        (ada_gql, PLACE, {"id": account, "amount": 1, "key": ""}, "invalid_idempotency_key"),
        (
            ada_gql,
            PLACE,
            {"id": account, "amount": 1, "key": str(uuid.uuid4()), "to": "XN00 nope"},
            None,
        ),
        (
            ada_gql,
            PLACE,
            {"id": account, "amount": 1, "key": str(uuid.uuid4()), "expires": 0},
            "invalid_body",
        ),
        (ada_gql, POST, {"id": account, "hold": str(uuid.uuid4()), "key": str(uuid.uuid4())}, None),
        (ada_gql, VOID, {"id": account, "hold": str(uuid.uuid4()), "key": str(uuid.uuid4())}, None),
    ]
    for gql, doc, variables, code in cases:
        err = await gql.error(doc, **variables)
        ext = err.get("extensions") or {}
        assert ext.get("code"), (variables, err)
        assert ext.get("status", 400) < 500, (variables, err)
        if code is not None:
            assert ext["code"] == code, (variables, err)
    balances, listed = await _gql_balances(ada_gql, account)
    assert balances == (1_000, 1_000) and listed == []  # nothing changed


async def test_a_customer_adds_a_payee_pays_it_and_removes_it_over_graphql(
    http: httpx.AsyncClient,
) -> None:
    ada, ada_gql = await _customer(http, "Ada Payer")
    bob, bob_gql = await _customer(http, "Robert Payee")
    ada_account = await _funded(ada_gql, 10_000)
    bob_account = (await bob_gql.data(OPEN, name="Rent"))["openAccount"]["id"]
    number = (await bob.account(bob_account)).json()["account_number"]

    added = await ada_gql.data(ADD_PAYEE, number=number, name="Robert Payee", nick="Landlord")
    assert added["addPayee"] == {
        "accountNumber": number,
        "nickname": "Landlord",
        "nameMatch": "MATCH",
    }
    close = await ada_gql.data(ADD_PAYEE, number=number, name="R Payee", nick="Bob")
    assert close["addPayee"]["nameMatch"] == "CLOSE_MATCH"  # adding again renames
    listed = (await ada_gql.data("{ payees { accountNumber nickname nameMatch } }"))["payees"]
    assert listed == [{"accountNumber": number, "nickname": "Bob", "nameMatch": "CLOSE_MATCH"}]
    rest = await http.get("/api/v1/payees", headers=ada.auth)
    assert rest.json()["items"] == [
        {"account_number": number, "nickname": "Bob", "name_match": "close_match"}
    ]

    key = str(uuid.uuid4())
    paid = await ada_gql.data(PAY, **{"from": ada_account}, to=number, amount=2_500, key=key)
    first = paid["payToAccountNumber"]
    assert first["balance"]["amount"] == 7_500 and not first["replayed"]
    again = await ada_gql.data(PAY, **{"from": ada_account}, to=number, amount=2_500, key=key)
    assert again["payToAccountNumber"] == {**first, "replayed": True}
    # The same key through REST's transfer is the same command (one idempotency scope).
    rest_transfer = await ada.transfer(ada_account, bob_account, 2_500, key=key, description="rent")
    assert rest_transfer.headers.get("idempotent-replayed") == "true", rest_transfer.text
    assert rest_transfer.json()["transfer_id"] == first["transferId"]
    assert await bob.balance(bob_account) == 2_500
    assert await ada.balance(ada_account) == 7_500
    # Bob reads the payment by its id, with the payer's account number, as over REST.
    incoming = await bob_gql.data(TRANSACTION, account=bob_account, transaction=first["transferId"])
    ada_number = (await ada.account(ada_account)).json()["account_number"]
    assert incoming["transaction"] == {
        "kind": "TRANSFER_IN",
        "amount": {"amount": 2_500},
        "description": "rent",
        "counterpartyAccountNumber": ada_number,
    }
    unknown = await bob_gql.error(TRANSACTION, account=bob_account, transaction=str(uuid.uuid4()))
    assert unknown["extensions"]["code"] == "transaction_not_found"

    removed = await ada_gql.data(
        "mutation($n: String!) { removePayee(accountNumber: $n) }", n=number
    )
    assert removed == {"removePayee": True}
    assert (await ada_gql.data("{ payees { nickname } }"))["payees"] == []
    err = await ada_gql.error("mutation($n: String!) { removePayee(accountNumber: $n) }", n=number)
    assert err["extensions"]["code"] == "payee_not_found"


async def test_payee_and_payment_input_errors_carry_a_code(http: httpx.AsyncClient) -> None:
    _, ada_gql = await _customer(http, "Ada Typo")
    eve, eve_gql = await _customer(http, "Eve Payments")
    ada_account = await _funded(ada_gql, 1_000)
    eve_account = (await eve_gql.data(OPEN, name="Mine"))["openAccount"]["id"]
    eve_number = (await eve.account(eve_account)).json()["account_number"]
    mistyped = eve_number[:-1] + ("1" if eve_number[-1] != "1" else "2")
    cases: list[tuple[str, dict[str, Any], str | None]] = [
        (ADD_PAYEE, {"number": "not a number", "name": "X Y", "nick": "x"}, "invalid_body"),
        (ADD_PAYEE, {"number": mistyped, "name": "Eve", "nick": "x"}, "invalid_account_number"),
        (ADD_PAYEE, {"number": eve_number, "name": "", "nick": "x"}, "invalid_body"),
        (
            PAY,
            {"from": ada_account, "to": mistyped, "amount": 1, "key": str(uuid.uuid4())},
            "invalid_account_number",
        ),
        (
            PAY,
            {"from": ada_account, "to": eve_number, "amount": -1, "key": str(uuid.uuid4())},
            "invalid_body",
        ),
        (
            PAY,
            {"from": ada_account, "to": eve_number, "amount": 5_000, "key": str(uuid.uuid4())},
            "insufficient_funds",
        ),
        # Someone else's account as the source is not found, as over REST.
        (
            PAY,
            {"from": eve_account, "to": eve_number, "amount": 1, "key": str(uuid.uuid4())},
            "account_not_found",
        ),
    ]
    for doc, variables, code in cases:
        err = await ada_gql.error(doc, **variables)
        ext = err.get("extensions") or {}
        assert ext.get("code") or code is None, (variables, err)
        assert ext.get("status", 400) < 500, (variables, err)
        if code is not None:
            assert ext["code"] == code, (variables, err)
    # As over REST: a pattern is said in words, not as its regular expression, and a
    # name that is only spaces is refused.
    err = await ada_gql.error(ADD_PAYEE, number="not a number", name="X Y", nick="x")
    assert "an account number like XN12" in err["message"], err
    assert "regex" not in err["message"], err
    err = await ada_gql.error(ADD_PAYEE, number=eve_number, name="   ", nick="x")
    assert err["extensions"]["code"] == "invalid_body", err
    words = "Expected one line of text, not only spaces, without control characters"
    assert err["message"].startswith(f"Invalid input: holder_name: {words}"), err
    assert await eve.balance(eve_account) == 0


CREATE_ORDER = """mutation($from: UUID!, $to: UUID!, $amount: MinorUnits!, $freq: Frequency!,
                          $start: Date!, $end: Date, $count: Int) {
  createStandingOrder(fromAccountId: $from, toAccountId: $to, amount: $amount,
                      frequency: $freq, startDate: $start, endDate: $end, count: $count,
                      description: "rent") {
    id fromAccountId toAccountId toAccountNumber amount frequency startDate status nextDue }
}"""
ORDER = """query($id: UUID!) {
  standingOrder(id: $id) { id status nextDue paymentsLeft
    occurrences { index dueDate outcome transferId reasonCode } }
}"""
CANCEL_ORDER = "mutation($id: UUID!) { cancelStandingOrder(id: $id) { id status nextDue } }"
RESUME_ORDER = "mutation($id: UUID!) { resumeStandingOrder(id: $id) { id status nextDue } }"
CHANGE_ORDER = """mutation($id: UUID!, $amount: MinorUnits!, $description: String) {
  changeStandingOrder(id: $id, amount: $amount, description: $description) {
    id amount description status
  }
}"""


async def test_standing_orders_over_graphql_are_paid_by_the_scheduler_and_cancelled(
    http: httpx.AsyncClient, stack: EmbeddedStack, tmp_path: Path
) -> None:
    ada, ada_gql = await _customer(http, "Ada Orders")
    bob, bob_gql = await _customer(http, "Bob Orders")
    ada_account = await _funded(ada_gql, 10_000)
    bob_account = (await bob_gql.data(OPEN, name="Rent"))["openAccount"]["id"]
    ids = {"from": ada_account, "to": bob_account}

    once = (await ada_gql.data(CREATE_ORDER, **ids, amount=1_200, freq="ONCE", start="2028-03-01"))[
        "createStandingOrder"
    ]
    assert (once["status"], once["nextDue"], once["frequency"]) == ("ACTIVE", "2028-03-01", "ONCE")
    bobs_number = (await http.get(f"/api/v1/accounts/{bob_account}", headers=bob.auth)).json()
    assert once["toAccountNumber"] == bobs_number["account_number"]
    monthly = (
        await ada_gql.data(
            CREATE_ORDER, **ids, amount=500, freq="MONTHLY", start="2028-04-01", count=12
        )
    )["createStandingOrder"]
    listed = (await ada_gql.data("{ standingOrders { id status } }"))["standingOrders"]
    assert listed == [
        {"id": once["id"], "status": "ACTIVE"},
        {"id": monthly["id"], "status": "ACTIVE"},
    ]
    rest = await http.get(f"/api/v1/standing-orders/{once['id']}", headers=ada.auth)
    assert rest.status_code == 200 and rest.json()["amount"] == 1_200

    sched = Scheduler(stack, tmp_path / "today")
    sched.set_today(date(2028, 3, 1))
    sched.once()
    paid = (await ada_gql.data(ORDER, id=once["id"]))["standingOrder"]
    assert (paid["status"], paid["nextDue"], paid["paymentsLeft"]) == ("FINISHED", None, 0)
    ahead = (await ada_gql.data(ORDER, id=monthly["id"]))["standingOrder"]
    assert (ahead["nextDue"], ahead["paymentsLeft"]) == ("2028-04-01", 12)
    [occurrence] = paid["occurrences"]
    assert (occurrence["dueDate"], occurrence["outcome"]) == ("2028-03-01", "PAID")
    assert occurrence["transferId"] == str(
        occurrence_transfer_id(uuid.UUID(once["id"]), date(2028, 3, 1))
    )
    assert await bob.balance(bob_account) == 1_200

    changed = (await ada_gql.data(CHANGE_ORDER, id=monthly["id"], amount=650, description="Rent"))[
        "changeStandingOrder"
    ]
    assert (changed["amount"], changed["description"], changed["status"]) == (650, "Rent", "ACTIVE")
    err = await ada_gql.error(CHANGE_ORDER, id=monthly["id"], amount=0)
    assert err["extensions"]["code"] == "invalid_body", err
    cancelled = (await ada_gql.data(CANCEL_ORDER, id=monthly["id"]))["cancelStandingOrder"]
    assert (cancelled["status"], cancelled["nextDue"]) == ("CANCELLED", None)
    for doc in (RESUME_ORDER, CHANGE_ORDER):  # a cancelled order pays no more
        err = await ada_gql.error(doc, id=monthly["id"], amount=700)
        assert (err["extensions"]["code"], err["extensions"]["status"]) == (
            "standing_order_ended",
            409,
        ), err
    sched.set_today(date(2028, 6, 1))
    sched.once()
    ended = (await ada_gql.data(ORDER, id=monthly["id"]))["standingOrder"]
    assert (ended["occurrences"], ended["paymentsLeft"]) == ([], 0)
    assert await bob.balance(bob_account) == 1_200

    # Refusals carry REST's codes; someone else's order or account is not found.
    recurring = {**ids, "amount": 1, "freq": "WEEKLY", "start": "2028-05-01"}
    err = await ada_gql.error(CREATE_ORDER, **recurring)
    assert err["extensions"]["code"] == "invalid_schedule", err
    err = await ada_gql.error(CREATE_ORDER, **{**recurring, "count": 0})
    assert err["extensions"]["code"] == "invalid_body", err
    err = await bob_gql.error(CREATE_ORDER, **{**recurring, "count": 2})
    assert err["extensions"]["code"] == "account_not_found", err
    for doc in (ORDER, CANCEL_ORDER, RESUME_ORDER, CHANGE_ORDER):
        err = await bob_gql.error(doc, id=once["id"], amount=1)
        assert err["extensions"]["code"] == "standing_order_not_found", err
    assert (await bob_gql.data("{ standingOrders { id } }"))["standingOrders"] == []


async def test_opening_past_the_cap_and_text_on_two_lines_are_refused_as_over_rest(
    http: httpx.AsyncClient,
) -> None:
    """GraphQL's openAccount takes REST's rules: the cap on open accounts and one line of
    text for a name, with REST's codes."""
    _, gql = await _customer(http, "Gil Graph Cap")
    most = Settings().max_open_accounts_per_customer
    for n in range(most):
        await gql.data(OPEN, name=f"Pot {n}")
    err = await gql.error(OPEN, name="One more")
    assert err["extensions"]["code"] == "too_many_accounts", err
    assert f"You hold {most} open accounts" in err["message"], err
    err = await gql.error(OPEN, name="Two\nlines")
    assert err["extensions"]["code"] == "invalid_body", err


RENAME = """mutation($id: UUID!, $name: String!, $key: String) {
  renameAccount(accountId: $id, name: $name, idempotencyKey: $key) {
    accountId name version replayed }
}"""


async def test_an_account_is_renamed_over_graphql_as_over_rest(http: httpx.AsyncClient) -> None:
    ada, gql = await _customer(http, "Ada Renamer")
    account = (await gql.data(OPEN, name="Everyday"))["openAccount"]["id"]
    key = str(uuid.uuid4())
    renamed = (await gql.data(RENAME, id=account, name="Bills", key=key))["renameAccount"]
    assert renamed == {"accountId": account, "name": "Bills", "version": 2, "replayed": False}
    # The same key over REST is the same command: its answer, replayed.
    rest = await http.patch(
        f"/api/v1/accounts/{account}",
        json={"name": "Bills"},
        headers={**ada.auth, "Idempotency-Key": key},
    )
    assert rest.headers.get("idempotent-replayed") == "true", rest.text
    assert rest.json() == {"account_id": account, "name": "Bills", "version": 2}
    bad = await gql.error(RENAME, id=account, name="Two\nlines", key=None)
    assert bad["extensions"]["code"] == "invalid_body"
    bob, bob_gql = await _customer(http, "Bob Other")
    theirs = await bob_gql.error(RENAME, id=account, name="Mine", key=None)
    assert theirs["extensions"]["code"] == "account_not_found"


async def test_an_accounts_limits_read_over_graphql_as_over_rest(http: httpx.AsyncClient) -> None:
    ada, gql = await _customer(http, "Ada Limits")
    account = await _funded(gql, 50_00)
    await gql.data(WITHDRAW, id=account, amount=20_00, key=str(uuid.uuid4()))
    query = """query($id: UUID!) {
      limits(accountId: $id) {
        accountId perTransaction dailyOutgoing remainingToday version bankPerTransaction
      }
    }"""
    seen = (await gql.data(query, id=account))["limits"]
    rest = (await http.get(f"/api/v1/accounts/{account}/limits", headers=ada.auth)).json()
    assert seen == {
        "accountId": account,
        "perTransaction": rest["per_transaction"],
        "dailyOutgoing": rest["daily_outgoing"],
        "remainingToday": rest["remaining_today"],
        "version": rest["version"],
        "bankPerTransaction": rest["bank_per_transaction"],
    }
    assert rest["bank_per_transaction"] == Settings().max_transaction_amount
    assert rest["remaining_today"] == rest["daily_outgoing"] - 20_00
    _, bob_gql = await _customer(http, "Bob Limits")
    err = await bob_gql.error(query, id=account)
    assert err["extensions"]["code"] == "account_not_found"


async def test_recent_activity_over_graphql_as_over_rest(
    http: httpx.AsyncClient, cdc: ManagedProcess, projections: ManagedProcess
) -> None:
    ada, gql = await _customer(http, "Ada Recent")
    first = await _funded(gql, 12_00)
    second = await _funded(gql, 34_00)
    rest: list[dict[str, Any]] = []
    deadline = time.monotonic() + 30
    while len(rest) < 2 and time.monotonic() < deadline:  # both projected
        await asyncio.sleep(0.05)
        rest = (await http.get("/api/v1/transactions", headers=ada.auth)).json()["items"]
    query = "query($n: Int!) { recentTransactions(first: $n) { accountId kind amount { amount } } }"
    seen = (await gql.data(query, n=10))["recentTransactions"]
    assert seen == [
        {
            "accountId": t["account_id"],
            "kind": t["kind"].upper(),
            "amount": {"amount": t["amount"]["amount"]},
        }
        for t in rest
    ]
    assert [(t["accountId"], t["amount"]["amount"]) for t in seen] == [
        (second, 34_00),
        (first, 12_00),
    ]
    err = await gql.error(query, n=0)
    assert err["extensions"]["code"] == "invalid_limit"
