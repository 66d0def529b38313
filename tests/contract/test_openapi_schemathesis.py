"""The OpenAPI document is the whole contract: Schemathesis (every check; coverage,
fuzzing and stateful phases) finds no answer of the real API that the document does
not describe, signed in as a customer and as the admin.

Every check runs (Schemathesis' default, the same as ``--checks all``, which is not
passed because a command-line option would override the per-operation settings);
the settings that narrow a check, each with its reason, are in schemathesis.toml here.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import httpx
import pytest
import redis.asyncio as redis

from infra.local.stack import EmbeddedStack
from tests.support.customers import Customer, sign_up
from tests.support.staff import admin

CONFIG = Path(__file__).with_name("schemathesis.toml")
ROOT = Path(__file__).parents[2]
MAX_EXAMPLES = int(os.environ.get("BANK_CONTRACT_EXAMPLES", "25"))
RUN_SECONDS = 420

# The fuzzer signs in with made-up credentials hundreds of times and moves money as fast
# as it can; its own API instance lets it (the limits themselves are tested elsewhere).
FUZZ_ENV = {
    "BANK_LOGIN_MAX_FAILURES_PER_IP": "1000000",
    "BANK_LOGIN_MAX_FAILURES_PER_ACCOUNT": "1000000",
    "BANK_MONEY_RATE_BURST": "1000000",
    "BANK_MONEY_RATE_PER_SECOND": "1000000",
}


async def _forget_failed_sign_ins(client: redis.Redis) -> None:
    """The failure counters are shared with the session's other API: leave none behind."""
    for pattern in ("bank:fail:login-*", "bank:lock:login-*"):
        async for key in client.scan_iter(match=pattern):
            await client.delete(key)


async def _schemathesis(base_url: str, token: str, report: Path) -> tuple[int, str]:
    cmd = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--no-color",
        "--config-file",
        str(CONFIG),
        "run",
        f"{base_url}/schema/openapi.json",
        "--phases",
        "coverage,fuzzing,stateful",
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
        f"Authorization: Bearer {token}",
        "--report",
        "junit",
        "--report-dir",
        str(report),
    ]
    # Run in the test's folder (Schemathesis keeps a cache in .schemathesis/ there).
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.contract.schemathesis_hooks",
        "PYTHONPATH": str(ROOT),
    }
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env, cwd=report
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), RUN_SECONDS)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    text = out.decode(errors="replace")
    (report / "schemathesis.txt").write_text(text)
    return proc.returncode or 0, text


@pytest.mark.timeout(RUN_SECONDS + 120)
@pytest.mark.parametrize("who", ["customer", "admin"])
async def test_the_api_answers_only_what_its_openapi_document_says(
    stack: EmbeddedStack,
    api_factory,  # type: ignore[no-untyped-def]
    redis_client: redis.Redis,
    tmp_path: Path,
    who: str,
) -> None:
    api = api_factory(extra_env=FUZZ_ENV)
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as http:
        person: Customer
        if who == "admin":
            person = await admin(http, stack)
        else:
            person = await sign_up(http, "Fuzzy Customer")
            account = (await person.open_account())["id"]
            assert (await person.deposit(account, 100_000)).status_code == 201
    try:
        code, output = await _schemathesis(api.url, person.token, tmp_path)
    finally:
        await _forget_failed_sign_ins(redis_client)
    assert code == 0, output[-20000:]
