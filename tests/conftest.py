"""Shared fixtures: a real, isolated embedded stack per test session
(see infra/local/pytest_plugin.py).

Fixtures: stack, stack_env, api_url, http, db (owner pool), app_db (bank_app pool),
redis_client, cdc, projections, fresh_dir, own_stack, client_url, and mailbox (the
development mail folder the stack's API writes to). Tests under tests/unit must not
use them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.local.pytest_plugin import *  # noqa: F401,F403
from infra.local.stack import EmbeddedStack
from tests.support.mailbox import mail_folder

_HERE = Path(__file__).parent


@pytest.fixture
def mailbox(stack: EmbeddedStack) -> Path:
    return mail_folder(stack.env())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark tests by folder: tests/unit → unit, tests/integration → integration."""
    for item in items:
        path = Path(str(item.fspath))
        for kind in ("unit", "integration"):
            if (_HERE / kind) in path.parents:
                item.add_marker(kind)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "unit: pure Python, no servers")
    config.addinivalue_line("markers", "integration: talks to the real embedded stack")
    config.addinivalue_line("markers", "e2e: drives the web client in a browser")
