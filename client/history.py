"""The history the app shows: pages the bank answers, and postings pushed meanwhile.

The bank answers history from its read model; a posting pushed at the same moment can
be a step ahead of it. A list that took the bank's answer alone, in place of what it
showed, lost every posting pushed while the answer was on its way, until the next
change brought the list again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from uuid import UUID

from shared.api import AccountResponse, TransactionResponse


def posting_key(t: TransactionResponse) -> tuple[UUID, UUID]:
    """A posting: a transfer is two, one per account, under one transaction id."""
    return (t.account_id, t.transaction_id)


def with_pushed(
    answered: Iterable[TransactionResponse], pushed: Iterable[TransactionResponse]
) -> list[TransactionResponse]:
    """The bank's answer, newest first, after the pushed postings it does not hold yet:
    those newer than all it holds of their account (newest first too). An older one it
    lacks is not news: the answer has moved past it (a first page ends somewhere)."""
    answered = list(answered)
    newest: dict[UUID, int] = {}
    for t in answered:
        newest[t.account_id] = max(newest.get(t.account_id, 0), t.version)
    return [t for t in pushed if t.version > newest.get(t.account_id, 0)] + answered


def known_after_push(known: int, pushed: TransactionResponse) -> int:
    """The version a list knows its account's postings up to, after a pushed posting: the
    next one extends it; a later one does not, for the bank pushes an account's latest
    posting only, once per batch, and those in between came without a push."""
    return pushed.version if pushed.version == known + 1 else known


def moved_past(
    accounts: Iterable[AccountResponse], known: Mapping[UUID, int]
) -> list[AccountResponse]:
    """The accounts whose version is past what a list knows of them (the version it was
    asked at, or a posting pushed into it since): their history has postings it lacks."""
    return [a for a in accounts if a.version > known.get(a.id, 0)]
