"""Payees as the app knows them (issue #17): the answer of confirmation of payee in
words a person understands, and one list made of what the bank lists and what this
session added.

The bank never reveals the holder's real name, so the words never suggest one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from client.account_numbers import compact
from shared.api import PayeeResponse

Tone = Literal["good", "warn", "bad"]


@dataclass(frozen=True)
class MatchMessage:
    title: str
    detail: str
    tone: Tone


MATCH_MESSAGES: dict[str, MatchMessage] = {
    "match": MatchMessage(
        "The name matches",
        "The name you gave is the name on this account.",
        "good",
    ),
    "close_match": MatchMessage(
        "Close match — check the name with the payee",
        "The name you gave is close to, but not exactly, the name on this account. "
        "Ask the payee for the exact name before you pay.",
        "warn",
    ),
    "no_match": MatchMessage(
        "No match — the name does not match this account",
        "Paying may send the money to the wrong person. Check the account number and "
        "the name with the payee.",
        "bad",
    ),
}
UNKNOWN_MATCH = MatchMessage(
    "Name not checked",
    "The bank did not say whether the name matches. Check the details with the payee.",
    "warn",
)


def match_message(name_match: str) -> MatchMessage:
    return MATCH_MESSAGES.get(name_match, UNKNOWN_MATCH)


def merge_payees(
    listed: list[PayeeResponse] | None, known: list[PayeeResponse]
) -> list[PayeeResponse]:
    """The payees to offer, one per account number, by nickname. ``listed`` is the
    bank's list and, when there is one, the whole truth (a payee forgotten on another
    device goes); None where the bank cannot list them (no connection, or a bank
    without GET /payees): then what the device knows, kept or added in this session,
    later entries winning."""
    by_number: dict[str, PayeeResponse] = {}
    for p in known if listed is None else listed:
        by_number[compact(p.account_number)] = p
    return sorted(by_number.values(), key=lambda p: (p.nickname.lower(), p.account_number))


def payee_label(p: PayeeResponse) -> str:
    return f"{p.nickname} · {p.account_number}"
