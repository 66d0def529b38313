"""A TCP link between the app and the bank's API that a test can cut.

In web mode the app's Python code runs in the Flet server process, so its calls
to the bank do not go through the browser: ``context.set_offline`` only cuts the
browser from the Flet server. To take the *bank* away from the app, the e2e
client talks to the API through this proxy, which can

- ``down()``: drop every open connection and refuse new ones (network lost);
- ``up()``: accept and forward again;
- ``lose_next_response(marker)``: forward the next request whose first line
  contains ``marker`` to the API, but drop the connection instead of returning
  the answer, as a mobile network does when it fails at the worst moment. The
  server applied the command; the app cannot know, so it must retry with the
  same idempotency key;
- ``hold_next_response(marker, seconds)``: forward the next request whose first
  line contains ``marker``, and hold its answer that long (a slow network), so a
  test can change things while the answer is on its way (``held_responses``
  counts the answers handed on after a hold).

It runs its own event loop in a thread, so sync and async tests can use it.
"""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import time
from collections.abc import Coroutine
from typing import Any

HOST = "127.0.0.1"
_REQUEST_LINE = re.compile(rb"^[A-Z]+ \S+ HTTP/1\.[01]$")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class BankLink:
    def __init__(self, upstream_port: int, port: int | None = None) -> None:
        self.upstream_port = upstream_port
        self.port = port or _free_port()
        # (time.monotonic(), first line) of every request that went through
        self.requests: list[tuple[float, bytes]] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, daemon=True, name="bank-link"
        )
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        # Counts the cuts: a connection accepted before a cut but still connecting to
        # the API when it came must not outlive it.
        self._cuts = 0
        self._lose_marker: bytes | None = None
        self.lost_responses = 0
        self._hold: tuple[bytes, float] | None = None
        self.held_responses = 0

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    # --- control (called from the test's thread) ------------------------------------

    def _call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    def start(self) -> BankLink:
        self._thread.start()
        self.up()
        return self

    def up(self) -> None:
        self._call(self._listen())

    def down(self) -> None:
        self._call(self._cut())

    def lose_next_response(self, marker: str) -> None:
        self._lose_marker = marker.encode()

    def hold_next_response(self, marker: str, seconds: float) -> None:
        self._hold = (marker.encode(), seconds)

    def count(self, marker: str) -> int:
        m = marker.encode()
        return sum(1 for _, line in list(self.requests) if m in line)

    def last_sent_at(self, marker: str) -> float | None:
        """When the latest request whose first line contains ``marker`` reached the bank."""
        m = marker.encode()
        times = [t for t, line in list(self.requests) if m in line]
        return times[-1] if times else None

    def close(self) -> None:
        self._call(self._cut())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    # --- the proxy (on its own loop) -------------------------------------------------

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(
                self._handle, HOST, self.port, reuse_address=True
            )

    async def _cut(self) -> None:
        self._cuts += 1
        if self._server is not None:
            self._server.close()
            self._server = None
        for w in list(self._writers):
            w.transport.abort()
        self._writers.clear()

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        cuts = self._cuts
        self._writers.add(client_w)  # a cut from now on drops it
        try:
            up_r, up_w = await asyncio.open_connection(HOST, self.upstream_port)
        except OSError:
            self._writers.discard(client_w)
            client_w.transport.abort()
            return
        if self._cuts != cuts:  # cut while it connected: the link is down for it too
            self._writers.discard(client_w)
            client_w.transport.abort()
            up_w.transport.abort()
            return
        self._writers.add(up_w)
        doomed = asyncio.Event()  # set when this connection carries the request to lose
        held: list[float] = []  # the hold of the answer to come, when it is to be held
        tasks = [
            asyncio.create_task(self._upstream(client_r, up_w, doomed, held)),
            asyncio.create_task(self._downstream(up_r, client_w, doomed, held)),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        except Exception:  # noqa: BLE001 - a reset on either side ends the pair
            pass
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for w in (client_w, up_w):
                self._writers.discard(w)
                w.transport.abort()

    async def _upstream(
        self,
        client_r: asyncio.StreamReader,
        up_w: asyncio.StreamWriter,
        doomed: asyncio.Event,
        held: list[float],
    ) -> None:
        """Forward the app's bytes to the API, recording each request line, setting
        ``doomed`` if the request carries the marker of ``lose_next_response`` and
        ``held`` if it carries that of ``hold_next_response``."""
        while data := await client_r.read(65536):
            self._note_request(data.split(b"\r\n", 1)[0], doomed, held)
            up_w.write(data)
            await up_w.drain()

    def _note_request(self, line: bytes, doomed: asyncio.Event, held: list[float]) -> None:
        if not _REQUEST_LINE.match(line):
            return
        self.requests.append((time.monotonic(), line))
        if self._lose_marker is not None and self._lose_marker in line:
            self._lose_marker = None
            doomed.set()
        if self._hold is not None and self._hold[0] in line:
            held.append(self._hold[1])
            self._hold = None

    async def _downstream(
        self,
        up_r: asyncio.StreamReader,
        client_w: asyncio.StreamWriter,
        doomed: asyncio.Event,
        held: list[float],
    ) -> None:
        """Forward the API's bytes to the app, unless the connection is doomed; an
        answer to hold waits first."""
        while data := await up_r.read(65536):
            if doomed.is_set():  # the server answered; the app never hears it
                self.lost_responses += 1
                client_w.transport.abort()
                return
            hold = held.pop() if held else None
            if hold is not None:
                await asyncio.sleep(hold)
            client_w.write(data)
            await client_w.drain()
            if hold is not None:
                self.held_responses += 1
