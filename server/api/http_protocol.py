"""uvicorn's httptools protocol, sending a response in one write.

uvicorn writes the status line and headers to the socket on ``http.response.start``
and the body on ``http.response.body``: two ``send`` calls for every answer, and on
loopback the kernel delivers each to the client in the caller's CPU time. Here the
protocol writes through ``CoalescingTransport``, which keeps what is written in one
turn of the event loop and sends it together at the end of that turn
(docs/adr/0340-one-write-per-response.md). Nothing waits longer than the current
turn; a turn that writes more than ``FLUSH_BYTES`` sends at once, so the transport's
flow control still sees a large body as it is written; ``close`` and ``write_eof``
send what is kept first. A connection upgraded to a WebSocket gets the socket's own
transport back: frames go out as the WebSocket protocol writes them.

The API runs it by name: ``uvicorn_options`` sets ``http`` to ``PROTOCOL``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

PROTOCOL = "server.api.http_protocol:OneWriteHttpToolsProtocol"
# Kept bytes above this are sent at once: the transport's own high-water mark, at
# which uvicorn starts to wait for the client to read.
FLUSH_BYTES = HIGH_WATER_LIMIT


class CoalescingTransport:
    """Wraps a transport: writes made in one event-loop turn leave as one ``write``."""

    __slots__ = ("raw", "_loop", "_kept", "_kept_bytes")

    def __init__(self, raw: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.raw = raw
        self._loop = loop
        self._kept: list[bytes] = []
        self._kept_bytes = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if not self._kept:
            self._loop.call_soon(self.flush)
        chunk = bytes(data)  # a view's len() counts items, not bytes; bytes stay as they are
        self._kept.append(chunk)
        self._kept_bytes += len(chunk)
        if self._kept_bytes >= FLUSH_BYTES:
            self.flush()

    def writelines(self, lines: Any) -> None:
        for data in lines:
            self.write(data)

    def flush(self) -> None:
        """Send what this turn kept (a no-op when nothing is kept)."""
        kept = self._kept
        if not kept:
            return
        self._kept, self._kept_bytes = [], 0
        if not self.raw.is_closing():  # as a closed transport drops a write
            self.raw.write(kept[0] if len(kept) == 1 else b"".join(kept))

    def close(self) -> None:
        self.flush()
        self.raw.close()

    def write_eof(self) -> None:
        self.flush()
        self.raw.write_eof()

    def abort(self) -> None:
        self._kept, self._kept_bytes = [], 0  # as abort drops the transport's buffer
        self.raw.abort()

    def get_write_buffer_size(self) -> int:
        return self.raw.get_write_buffer_size() + self._kept_bytes

    # What uvicorn calls on every request, passed on without a failed lookup first.
    def is_closing(self) -> bool:
        return self.raw.is_closing()

    def pause_reading(self) -> None:
        self.raw.pause_reading()

    def resume_reading(self) -> None:
        self.raw.resume_reading()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.raw.get_extra_info(name, default)

    def __getattr__(self, name: str) -> Any:  # everything else is the transport's
        return getattr(self.raw, name)


class OneWriteHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol over a ``CoalescingTransport``."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        coalescing = CoalescingTransport(transport, self.loop)
        super().connection_made(coalescing)  # type: ignore[arg-type]

    def handle_websocket_upgrade(self) -> None:
        if isinstance(self.transport, CoalescingTransport):
            self.transport.flush()
            self.transport = self.transport.raw
        super().handle_websocket_upgrade()
