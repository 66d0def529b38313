"""An idle keep-alive connection outlives a client's wait between two requests.

A client pool keeps idle connections for a while (aiohttp 15 s) and sends its next
request on one of them. If the server closed that connection first, a POST written to
it meets a reset and is not retried: the server must keep idle connections longer than
clients do (server/api/__main__.py, KEEP_ALIVE_SECONDS)."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

IDLE_SECONDS = 6.0  # longer than uvicorn's default keep-alive (5 s)


async def _get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> int:
    writer.write(f"GET /health/live HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    status = int(head.split(b" ", 2)[1])
    headers = {
        name.strip().lower(): value.strip()
        for name, value in (line.split(b":", 1) for line in head.split(b"\r\n")[1:] if b":" in line)
    }
    length = int(headers.get(b"content-length", b"0"))
    await asyncio.wait_for(reader.readexactly(length), 10)
    assert b"close" not in headers.get(b"connection", b"").lower()
    return status


async def test_a_connection_idle_for_seconds_still_takes_the_next_request(api_url: str) -> None:
    url = urlsplit(api_url)
    assert url.hostname and url.port
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        assert await _get(reader, writer, url.netloc) == 200
        await asyncio.sleep(IDLE_SECONDS)
        assert not reader.at_eof(), "the server closed the idle connection"
        assert await _get(reader, writer, url.netloc) == 200
    finally:
        writer.close()
        await writer.wait_closed()
