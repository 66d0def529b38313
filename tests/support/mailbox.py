"""The development mail provider's folder (``data_dir/mail``), read as a customer reads
their inbox: the messages to an address, the code in the newest that carries one (a
password reset's, an email change's), the newest of a subject (a security alert, which
comes when the notification consumer sends it)."""

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


def text(message: Message) -> str:
    body = message.get_payload(decode=True)
    assert isinstance(body, bytes)
    return body.decode()


def wait_for_emailed_code(folder: Path, address: str, seen: int = 0, timeout: float = 10.0) -> str:
    """The code in the newest message with a code to ``address``, once there are more
    than ``seen`` of those (a security alert in between is not one)."""
    deadline = time.monotonic() + timeout
    while True:
        codes = [m for m in map(text, messages_to(folder, address)) if EMAILED_CODE.search(m)]
        if len(codes) > seen:
            match = EMAILED_CODE.search(codes[-1])
            assert match is not None
            return match.group(1)
        assert time.monotonic() < deadline, f"no code mailed to {address} within {timeout}s"
        time.sleep(0.1)


def wait_for_mail(folder: Path, address: str, subject: str, timeout: float = 30.0) -> Message:
    """The newest message to ``address`` with ``subject``, once there is one."""
    deadline = time.monotonic() + timeout
    while True:
        got = [m for m in messages_to(folder, address) if m["Subject"] == subject]
        if got:
            return got[-1]
        assert time.monotonic() < deadline, f"no {subject!r} to {address} within {timeout}s"
        time.sleep(0.2)
