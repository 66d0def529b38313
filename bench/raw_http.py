"""A lean HTTP/1.1 client for load: keep-alive connections over asyncio streams, each
request written as one pre-built bytes string, each answer read by its Content-Length.

aiohttp spent ~300 µs of the load process's CPU per deposit in the e2e_push scenario,
about half of what the API spent answering it, on the same two cores; the client's
queueing then showed up as the API's latency (docs/adr/0318). This client does only
what the bench's requests need: no redirects, no chunked bodies, no TLS, no cookies.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

_HEADERS_END = b"\r\n\r\n"


class ConnectionLost(Exception):
    """The server closed the connection before the whole answer arrived."""


class RawHttp:
    """``connections`` keep-alive connections to one host; ``request`` waits for a free
    one, so at most that many requests are in flight (as wrk's ``-c``)."""

    def __init__(self, base_url: str, connections: int) -> None:
        url = urlsplit(base_url)
        if url.scheme != "http" or url.hostname is None or url.port is None:
            raise ValueError(f"RawHttp needs http://host:port, not {base_url!r}")
        self.host, self.port = url.hostname, url.port
        self.size = connections
        self._idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter] | None] = (
            asyncio.Queue()
        )

    async def start(self) -> None:
        for _ in range(self.size):
            self._idle.put_nowait(None)  # opened on first use

    async def close(self) -> None:
        while not self._idle.empty():
            conn = self._idle.get_nowait()
            if conn is not None:
                conn[1].close()

    def post(self, path: str, headers: dict[str, str], body: bytes) -> bytes:
        """The bytes of a POST with these headers and body."""
        lines = [f"POST {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        """Send one pre-built request; its status and body."""
        conn = await self._idle.get()
        try:
            if conn is None:
                conn = await asyncio.open_connection(self.host, self.port)
            reader, writer = conn
            writer.write(raw)
            head = await reader.readuntil(_HEADERS_END)
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
                    break
            body = await reader.readexactly(length) if length else b""
        except BaseException as exc:
            if conn is not None:
                conn[1].close()
            self._idle.put_nowait(None)  # the next request opens a new connection
            if isinstance(exc, asyncio.IncompleteReadError | ConnectionError):
                raise ConnectionLost(str(exc)) from exc
            raise
        self._idle.put_nowait(conn)
        return status, body
