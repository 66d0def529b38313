"""A typed client generated from the OpenAPI document (openapi-python-client) does the
customer's story against the real API: if the generator cannot produce a client that
works, the document is wrong."""

from __future__ import annotations

import asyncio
import importlib
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx

from tests.support.customers import PASSWORD

GENERATOR_CONFIG = "post_hooks: []\n"  # no formatter run on the generated code


async def _generate(api_url: str, where: Path) -> Any:
    async with httpx.AsyncClient(base_url=api_url) as http:
        r = await http.get("/schema/openapi.json")
    assert r.status_code == 200, r.text
    (where / "openapi.json").write_bytes(r.content)
    (where / "config.yml").write_text(GENERATOR_CONFIG)
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("openapi-python-client")),
        "generate",
        "--path",
        str(where / "openapi.json"),
        "--config",
        str(where / "config.yml"),
        "--meta",
        "none",
        "--output-path",
        str(where / "bank_client"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=where,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 240)
    text = out.decode(errors="replace")
    assert proc.returncode == 0, text
    assert "Warning" not in text, text  # every operation and schema was understood
    sys.path.insert(0, str(where))
    try:
        return importlib.import_module("bank_client")
    finally:
        sys.path.remove(str(where))


def _unload(package: str) -> None:
    for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
        del sys.modules[name]


async def test_a_client_generated_from_the_document_banks_against_the_real_api(
    api_url: str,
    tmp_path: Path,
    cdc: object,  # the pipeline that fills the read models
    projections: object,
) -> None:
    _unload("bank_client")
    bank = await _generate(api_url, tmp_path)
    models = importlib.import_module("bank_client.models")
    anon = bank.Client(base_url=api_url, raise_on_unexpected_status=True)

    async def customer(name: str) -> Any:
        email = f"{name.lower()}.{uuid.uuid4().hex[:10]}@example.com"
        mod = importlib.import_module("bank_client.api.auth.register")
        created = await mod.asyncio(
            client=anon,
            body=models.RegisterRequest(email=email, password=PASSWORD, full_name=name),
        )
        assert isinstance(created, models.RegisterResponse), created
        token_mod = importlib.import_module("bank_client.api.auth.issue_token")
        token = await token_mod.asyncio(
            client=anon,
            body=models.TokenForm(grant_type="password", username=email, password=PASSWORD),
        )
        assert isinstance(token, models.TokenResponse), token
        return bank.AuthenticatedClient(
            base_url=api_url, token=token.access_token, raise_on_unexpected_status=True
        )

    ada, bob = await customer("Ada"), await customer("Bob")

    open_account = importlib.import_module("bank_client.api.accounts.open_account")
    ada_account = await open_account.asyncio(
        client=ada, body=models.OpenAccountRequest(currency="EUR", name="Everyday")
    )
    bob_account = await open_account.asyncio(
        client=bob, body=models.OpenAccountRequest(currency="EUR", name="Savings")
    )
    assert isinstance(ada_account, models.AccountResponse), ada_account
    assert isinstance(bob_account, models.AccountResponse), bob_account

    deposit = importlib.import_module("bank_client.api.accounts.deposit_money")
    key = str(uuid.uuid4())
    for _ in range(2):  # the retry with the same key answers the first outcome
        deposited = await deposit.asyncio(
            ada_account.id,
            client=ada,
            body=models.MoneyMovementRequest(amount=10_000, description="salary"),
            idempotency_key=key,
        )
        assert isinstance(deposited, models.MoneyMovementResponse), deposited
        assert deposited.balance.amount == 10_000

    transfer = importlib.import_module("bank_client.api.transfers.transfer_money")
    moved = await transfer.asyncio(
        client=ada,
        body=models.TransferRequest(
            from_account_id=ada_account.id,
            to_account_id=bob_account.id,
            amount=2_500,
            description="rent",
        ),
        idempotency_key=str(uuid.uuid4()),
    )
    assert isinstance(moved, models.TransferResponse), moved
    assert moved.balance.amount == 7_500

    refused = await transfer.asyncio(
        client=ada,
        body=models.TransferRequest(
            from_account_id=ada_account.id, to_account_id=bob_account.id, amount=50_000
        ),
        idempotency_key=str(uuid.uuid4()),
    )
    assert type(refused).__name__ == "TransferMoneyResponse422", refused
    assert refused.code.value == "insufficient_funds"

    history = importlib.import_module("bank_client.api.accounts.list_transactions")
    deadline = asyncio.get_running_loop().time() + 15
    while True:  # the read model follows the event store
        page = await history.asyncio(bob_account.id, client=bob, limit=10)
        assert isinstance(page, models.TransactionPage), page
        if page.items or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.2)
    assert [(t.kind.value if hasattr(t.kind, "value") else t.kind) for t in page.items] == [
        "transfer_in"
    ]
    assert page.items[0].amount.amount == 2_500
    assert page.items[0].counterparty_account_id == ada_account.id
    _unload("bank_client")
