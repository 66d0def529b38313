"""Email the bank sends its customers (a code to reset a forgotten password).

``Mailer`` is the port. This machine reaches no mail server, so the one provider here is
the development one, ``file``: each message is written to ``data_dir/mail/`` as an RFC
5322 ``.eml`` file, which a person opens with any mail program and a test reads. A real
provider (SMTP, or a provider's HTTP API) plugs in by settings (``BANK_MAIL_PROVIDER``)
as a class in ``PROVIDERS``.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

from runtime.settings import Settings
from server.application.errors import MailUnavailableError


class Mailer(Protocol):
    async def send(self, to: str, subject: str, body: str) -> None: ...


class FileMailer:
    """Development provider: one ``.eml`` file per message under ``directory``, written
    whole (a temporary file renamed), named so that they sort by time."""

    def __init__(self, directory: Path, sender: str) -> None:
        self.directory = directory
        self.sender = sender

    def _write(self, to: str, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self.sender, to, subject
        message.set_content(body)
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}.eml"
        tmp = self.directory / f".{name}.tmp"
        tmp.write_bytes(bytes(message))
        os.replace(tmp, self.directory / name)

    async def send(self, to: str, subject: str, body: str) -> None:
        try:
            await asyncio.to_thread(self._write, to, subject, body)
        except OSError as exc:
            raise MailUnavailableError(
                "The bank cannot send email right now; nothing was sent. Try again in a minute."
            ) from exc


def mailbox_dir(settings: Settings) -> Path:
    """Where the ``file`` provider writes: ``data_dir/mail``."""
    return Path(settings.data_dir) / "mail"


PROVIDERS = ("file",)


def mailer_from_settings(settings: Settings) -> Mailer:
    if settings.mail_provider != "file":
        raise ValueError(
            f"unknown mail provider {settings.mail_provider!r}; BANK_MAIL_PROVIDER must be"
            f" one of {', '.join(PROVIDERS)}"
        )
    return FileMailer(mailbox_dir(settings), settings.mail_from)
