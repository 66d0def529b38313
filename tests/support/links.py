"""A TCP link between a process of ours and a server, for the failures that refuse
and reset nothing: a server that hangs (frozen, swapping), a network that holds
packets, a server that vanished without a word (a failover: the old connections stay
open on our side, and nothing ever comes back on them)."""

from __future__ import annotations

import asyncio


class HangingLink:
    """Forwards every connection to ``target_port`` until told otherwise.

    - ``flowing.clear()``: bytes stop passing, and wait; ``flowing.set()``: they go on.
    - ``silence_open_connections()``: the connections open now pass nothing, ever
      (what is sent on them is dropped); new ones pass as before.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.flowing = asyncio.Event()
        self.flowing.set()
        self._generation = 0  # connections opened before the last silence are dead

    async def _pipe(
        self, generation: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            while data := await reader.read(65536):
                await self.flowing.wait()
                if generation != self._generation:
                    continue  # silenced: dropped, and the socket stays open
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        generation = self._generation
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        await asyncio.gather(
            self._pipe(generation, reader, up_writer), self._pipe(generation, up_reader, writer)
        )

    def silence_open_connections(self) -> None:
        self._generation += 1

    async def start(self) -> int:
        """Listen on a free loopback port; returns it."""
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    def close(self) -> None:
        self.server.close()


def database_url_through(database_url: str, port: int, host: str = "127.0.0.1") -> str:
    """``database_url`` (postgresql://user@host:port/db) to ``host``:``port`` instead
    (``localhost`` where a certificate for that name is verified)."""
    user_and_db = database_url.split("://", 1)[1]
    user, name = user_and_db.split("@", 1)[0], user_and_db.rsplit("/", 1)[1]
    return f"postgresql://{user}@{host}:{port}/{name}"


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])
