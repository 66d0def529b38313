"""Schemathesis' GraphQL mode against /graphql: every generated query and mutation,
valid or not, is answered without a server error (signed in as a customer)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import httpx
import pytest
import redis.asyncio as redis

from infra.local.stack import EmbeddedStack
from tests.contract.test_openapi_schemathesis import FUZZ_ENV, ROOT, _forget_failed_sign_ins
from tests.support.customers import sign_up

MAX_EXAMPLES = int(os.environ.get("BANK_CONTRACT_EXAMPLES", "25"))
RUN_SECONDS = 420


@pytest.mark.timeout(RUN_SECONDS + 120)
async def test_graphql_answers_every_generated_document_without_a_server_error(
    stack: EmbeddedStack,
    api_factory,  # type: ignore[no-untyped-def]
    redis_client: redis.Redis,
    tmp_path: Path,
) -> None:
    api = api_factory(extra_env=FUZZ_ENV)
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as http:
        person = await sign_up(http, "Fuzzy Graph")
        account = (await person.open_account())["id"]
        assert (await person.deposit(account, 100_000)).status_code == 201
    cmd = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--no-color",
        "run",
        f"{api.url}/graphql",
        # Only this check: a GraphQL answer with errors for a made-up account id or a
        # refused amount is the API working (the errors carry REST's codes); what must
        # never happen is a 5xx or an error the server labels as its own fault.
        "--checks",
        "not_a_server_error",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        "20261130",
        "--workers",
        "1",
        "--request-timeout",
        "20",
        "--suppress-health-check",
        "too_slow,filter_too_much",
        "-H",
        f"Authorization: Bearer {person.token}",
    ]
    # Run in the test's folder (Schemathesis keeps a cache in .schemathesis/ there).
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.contract.schemathesis_graphql_hooks",
        "PYTHONPATH": str(ROOT),
    }
    proc = await asyncio.create_subprocess_exec(
        *cmd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=tmp_path,
        env=env,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), RUN_SECONDS)
    finally:
        await _forget_failed_sign_ins(redis_client)
    text = out.decode(errors="replace")
    (tmp_path / "schemathesis.txt").write_text(text)
    assert proc.returncode == 0, text[-20000:]
