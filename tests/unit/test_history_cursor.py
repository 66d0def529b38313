"""A history cursor comes back from the client: anything it holds is checked before it
reaches SQL (a made-up version past 64 bits was a 500)."""

from __future__ import annotations

import base64
import uuid

import msgspec
import pytest

from server.queries.history import InvalidCursorError, decode_cursor, encode_cursor


def forged(account_id: uuid.UUID, version: int) -> str:
    raw = msgspec.msgpack.encode([account_id.hex[:8], version])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_a_cursor_round_trips_for_its_own_account_only() -> None:
    mine, other = uuid.uuid4(), uuid.uuid4()
    assert decode_cursor(mine, encode_cursor(mine, 42)) == 42
    with pytest.raises(InvalidCursorError, match="another listing"):
        decode_cursor(other, encode_cursor(mine, 42))


@pytest.mark.parametrize("version", [0, -1, 2**63, 2**64 - 1])
def test_a_version_no_page_can_end_at_is_refused(version: int) -> None:
    account = uuid.uuid4()
    assert decode_cursor(account, forged(account, 2**63 - 1)) == 2**63 - 1
    with pytest.raises(InvalidCursorError, match="not one this API returned"):
        decode_cursor(account, forged(account, version))


@pytest.mark.parametrize("cursor", ["", "not base64!", "AAAA", base64.b64encode(b"{}").decode()])
def test_what_is_not_a_cursor_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursorError):
        decode_cursor(uuid.uuid4(), cursor)
