"""The API's HTTP protocol sends each response in one write (server/api/http_protocol.py)."""

from __future__ import annotations

import asyncio
from array import array
from typing import Any

from uvicorn.config import Config
from uvicorn.server import ServerState

from server.api.http_protocol import (
    FLUSH_BYTES,
    PROTOCOL,
    CoalescingTransport,
    OneWriteHttpToolsProtocol,
)


class RecordingTransport:
    """What a transport was asked to do, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.closing = False
        self.buffered = 0

    def write(self, data: bytes) -> None:
        self.calls.append(("write", data))

    def close(self) -> None:
        self.calls.append(("close", None))
        self.closing = True

    def abort(self) -> None:
        self.calls.append(("abort", None))
        self.closing = True

    def write_eof(self) -> None:
        self.calls.append(("write_eof", None))

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def pause_reading(self) -> None:
        self.calls.append(("pause_reading", None))

    def resume_reading(self) -> None:
        self.calls.append(("resume_reading", None))

    def set_protocol(self, protocol: Any) -> None:
        self.calls.append(("set_protocol", protocol))

    @property
    def writes(self) -> list[bytes]:
        return [data for call, data in self.calls if call == "write"]


async def _turn() -> None:
    """Let the loop run the callbacks scheduled so far."""
    await asyncio.sleep(0)


async def test_writes_made_in_one_turn_leave_together_at_its_end() -> None:
    raw = RecordingTransport()
    transport = CoalescingTransport(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    transport.write(bytearray(b"{}"))
    assert raw.writes == []
    assert transport.get_write_buffer_size() == 40
    await _turn()
    assert raw.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
    assert transport.get_write_buffer_size() == 0
    transport.write(b"next")
    await _turn()
    assert raw.writes[1:] == [b"next"]


async def test_what_is_kept_is_counted_in_bytes() -> None:
    raw = RecordingTransport()
    transport = CoalescingTransport(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(memoryview(array("H", [1, 2])))  # two items of two bytes each
    assert transport.get_write_buffer_size() == 4
    await _turn()
    assert raw.writes == [array("H", [1, 2]).tobytes()]


async def test_close_and_write_eof_send_what_was_kept_first() -> None:
    raw = RecordingTransport()
    transport = CoalescingTransport(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"a")
    transport.write_eof()
    transport.write(b"b")
    transport.close()
    await _turn()  # the turn's scheduled sends find nothing left
    assert raw.calls == [("write", b"a"), ("write_eof", None), ("write", b"b"), ("close", None)]


async def test_a_large_body_is_sent_as_it_is_written() -> None:
    raw = RecordingTransport()
    transport = CoalescingTransport(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"headers")
    transport.write(b"x" * FLUSH_BYTES)
    assert raw.writes == [b"headers" + b"x" * FLUSH_BYTES]  # the transport's flow control sees it


async def test_abort_drops_what_was_kept_and_a_closed_transport_gets_no_write() -> None:
    raw = RecordingTransport()
    transport = CoalescingTransport(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"dropped")
    transport.abort()
    await _turn()
    assert raw.calls == [("abort", None)]
    transport.write(b"too late")
    await _turn()
    assert raw.writes == []


async def test_other_calls_reach_the_transport() -> None:
    raw = RecordingTransport()
    transport = CoalescingTransport(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.pause_reading()
    transport.resume_reading()
    assert transport.get_extra_info("sslcontext") is None
    assert transport.get_extra_info("peername", ("127.0.0.1", 1)) == ("127.0.0.1", 1)
    assert not transport.is_closing()
    transport.set_protocol("next")  # not one of its own: passed on by name
    assert raw.calls == [
        ("pause_reading", None),
        ("resume_reading", None),
        ("set_protocol", "next"),
    ]
    raw.closing = True
    assert transport.is_closing()


async def _app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await receive()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"11")],
        }
    )
    await send({"type": "http.response.body", "body": b'{"ok":true}'})


def _protocol(loop: asyncio.AbstractEventLoop) -> OneWriteHttpToolsProtocol:
    config = Config(app=_app, http=PROTOCOL, lifespan="off", access_log=False)
    return OneWriteHttpToolsProtocol(
        config=config, server_state=ServerState(), app_state={}, _loop=loop
    )


async def test_uvicorn_answers_a_request_in_one_write() -> None:
    raw = RecordingTransport()
    protocol = _protocol(asyncio.get_running_loop())
    protocol.connection_made(raw)  # type: ignore[arg-type]
    protocol.data_received(b"GET /balance HTTP/1.1\r\nHost: bank\r\n\r\n")
    for _ in range(5):  # the request's task, then the end of its turn
        await _turn()
    (response,) = raw.writes
    assert response.startswith(b"HTTP/1.1 200 OK\r\n")
    assert response.endswith(b'\r\n\r\n{"ok":true}')
    assert b"content-length: 11\r\n" in response
    protocol.connection_lost(None)


async def test_a_websocket_upgrade_gets_the_sockets_own_transport() -> None:
    raw = RecordingTransport()
    protocol = _protocol(asyncio.get_running_loop())
    protocol.connection_made(raw)  # type: ignore[arg-type]
    assert isinstance(protocol.transport, CoalescingTransport)
    protocol.data_received(
        b"GET /api/v1/live HTTP/1.1\r\nHost: bank\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n"
    )
    assert protocol.transport is raw
    ((_, ws_protocol),) = [c for c in raw.calls if c[0] == "set_protocol"]
    assert ws_protocol.transport is raw
    ws_protocol.connection_lost(None)
