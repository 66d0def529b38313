"""The headers the CDC connector puts on domain records, read by name (shared.topics)."""

from __future__ import annotations

from shared.topics import EVENT_ID_HEADER, EVENT_TYPE_HEADER, TRACE_ID_HEADER, header


def test_a_header_is_read_by_name_first_match_wins_and_absent_is_none() -> None:
    headers = [
        (EVENT_ID_HEADER, b"e-1"),
        (EVENT_TYPE_HEADER, b"MoneyDeposited"),
        (EVENT_TYPE_HEADER, b"later"),
    ]
    assert header(headers, EVENT_TYPE_HEADER) == b"MoneyDeposited"
    assert header(headers, EVENT_ID_HEADER) == b"e-1"
    assert header(headers, TRACE_ID_HEADER) is None
    assert header(None, EVENT_ID_HEADER) is None
