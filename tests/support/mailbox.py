"""The development mail provider's folder (``data_dir/mail``), read as a customer reads
their inbox: the newest message to an address, and the code in it (a password reset's,
an email change's)."""

from __future__ import annotations

import email
import re
import time
from email.message import Message
from pathlib import Path

from runtime.settings import Settings
from server.adapters.mail import mailbox_dir

EMAILED_CODE = re.compile(r"Your code: ([A-Z2-9]{4}-[A-Z2-9]{4})")


def mail_folder(stack_env: dict[str, str]) -> Path:
    return mailbox_dir(Settings.from_env(stack_env))


def messages_to(folder: Path, address: str) -> list[Message]:
    """Every message to ``address``, oldest first."""
    if not folder.exists():
        return []
    found = [email.message_from_bytes(p.read_bytes()) for p in sorted(folder.glob("*.eml"))]
    return [m for m in found if m["To"] == address]


def wait_for_emailed_code(folder: Path, address: str, seen: int = 0, timeout: float = 10.0) -> str:
    """The code in the newest message to ``address`` once it has more than ``seen``."""
    deadline = time.monotonic() + timeout
    while True:
        got = messages_to(folder, address)
        if len(got) > seen:
            body = got[-1].get_payload(decode=True)
            assert isinstance(body, bytes)
            match = EMAILED_CODE.search(body.decode())
            assert match, body
            return match.group(1)
        assert time.monotonic() < deadline, f"no mail to {address} within {timeout}s"
        time.sleep(0.1)
