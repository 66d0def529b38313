"""The replication side: publication, slot, and the pgoutput stream.

Streaming (psycopg2's ``LogicalReplicationConnection``) was measured faster and
steadier here than polling the slot functions (see ``bench/cdc_paths.py`` and
cdc/README.md). ``read_message`` never blocks, so instead of a thread the
stream is driven from the event loop: ``loop.add_reader`` on the socket, drain
every buffered message, hand the batch over. Pausing is removing the reader,
which is how back-pressure reaches PostgreSQL (the server stops sending when
the socket buffer is full).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

import psycopg2
import psycopg2.extras

from cdc.pgoutput import format_lsn, parse_lsn

log = logging.getLogger(__name__)

# (data_start LSN, pgoutput payload)
RawMessage = tuple[int, bytes]

MAX_DRAIN = 4096  # messages per callback before yielding to the loop


class ReplicationError(RuntimeError):
    pass


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class ReplicationStream:
    """One replication connection; owns the slot and the publication."""

    def __init__(
        self,
        dsn: str,
        slot: str,
        publication: str,
        on_messages: Callable[[list[RawMessage]], None],
        on_error: Callable[[BaseException], None],
    ) -> None:
        self._dsn = dsn
        self.slot = slot
        self.publication = publication
        self._on_messages = on_messages
        self._on_error = on_error
        self._conn: Any = None
        self._cur: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reading = False
        self._streaming = False
        # The socket registered with the loop. Remembered, because a connection
        # the server broke answers fileno() with an error (issue #11): the
        # reader must still come off the loop, or it fires forever on whatever
        # socket reuses that fd number next.
        self._fd: int | None = None
        self.confirmed_lsn = 0

    # --- setup (blocking calls, quick; run before streaming) ------------------

    def connect(self) -> None:
        self._conn = psycopg2.connect(
            self._dsn,
            connection_factory=psycopg2.extras.LogicalReplicationConnection,
            options="-c TimeZone=UTC",
            application_name="bank-cdc",
        )
        self._cur = self._conn.cursor()

    def query(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        # A logical replication connection also runs plain SQL (replication=database).
        self._cur.execute(sql, params)
        return list(self._cur.fetchall()) if self._cur.description else []

    def ensure_publication(self, tables: list[str], retired: Sequence[str] = ()) -> list[str]:
        """Create the publication for the tables that exist; add any missing one,
        take out any ``retired`` one."""
        existing = {
            r[0]
            for r in self.query(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname = ANY(%s)",
                (tables,),
            )
        }
        wanted = [t for t in tables if t in existing]
        if not wanted:
            raise ReplicationError(f"none of the captured tables exist yet: {tables}")
        published = self.query(
            "SELECT tablename FROM pg_publication_tables WHERE pubname = %s", (self.publication,)
        )
        has_pub = bool(
            self.query("SELECT 1 FROM pg_publication WHERE pubname = %s", (self.publication,))
        )
        table_list = ", ".join("public." + _q(t) for t in wanted)
        if not has_pub:
            self.query(f"CREATE PUBLICATION {_q(self.publication)} FOR TABLE {table_list}")
            log.info("created publication %s for %s", self.publication, wanted)
        else:
            missing = [t for t in wanted if t not in {r[0] for r in published}]
            for table in missing:
                self.query(f"ALTER PUBLICATION {_q(self.publication)} ADD TABLE public.{_q(table)}")
                log.info("added %s to publication %s", table, self.publication)
            for table in [r[0] for r in published if r[0] in retired]:
                self.query(
                    f"ALTER PUBLICATION {_q(self.publication)} DROP TABLE public.{_q(table)}"
                )
                log.info("took retired %s out of publication %s", table, self.publication)
        return wanted

    def slot_info(self) -> tuple[int, int] | None:
        """(confirmed_flush_lsn, restart_lsn) of the slot, or None if it does not exist."""
        rows = self.query(
            "SELECT confirmed_flush_lsn::text, restart_lsn::text FROM pg_replication_slots"
            " WHERE slot_name = %s",
            (self.slot,),
        )
        if not rows:
            return None

        return parse_lsn(rows[0][0]), parse_lsn(rows[0][1])

    def create_slot(self) -> tuple[int, str]:
        """Create the slot, exporting its snapshot: (consistent point LSN, snapshot name).

        The snapshot stays importable until this connection runs its next command.
        """

        self._cur.execute(
            f"CREATE_REPLICATION_SLOT {_q(self.slot)} LOGICAL pgoutput EXPORT_SNAPSHOT"
        )
        _name, consistent_point, snapshot_name, _plugin = self._cur.fetchone()
        log.info("created slot %s at %s (snapshot %s)", self.slot, consistent_point, snapshot_name)
        return parse_lsn(consistent_point), snapshot_name

    def drop_slot(self) -> None:
        self._cur.drop_replication_slot(self.slot)

    # --- streaming ------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._cur.start_replication(
            slot_name=self.slot,
            decode=False,
            status_interval=1,
            options={"proto_version": "1", "publication_names": self.publication},
        )
        self._streaming = True
        self.resume()

    def resume(self) -> None:
        if self._streaming and not self._reading and self._loop is not None:
            if self._fd is None:
                self._fd = self._conn.fileno()
            self._loop.add_reader(self._fd, self._drain)
            self._reading = True
            # Messages may already sit in libpq's buffer: the socket will not wake us.
            self._loop.call_soon(self._drain)

    def pause(self) -> None:
        """Stop reading (back-pressure, or the end). Never touches the connection,
        which may be broken: the reader comes off by the fd it was registered with."""
        if self._reading and self._loop is not None and self._fd is not None:
            self._loop.remove_reader(self._fd)
        self._reading = False

    def _broken(self, exc: BaseException) -> None:
        """The stream cannot go on: stop reading for good and end the session."""
        self.pause()
        self._streaming = False
        self._on_error(exc)

    @property
    def paused(self) -> bool:
        return not self._reading

    @property
    def server_wal_end(self) -> int:
        return int(self._cur.wal_end) if self._cur is not None else 0

    def _drain(self) -> None:
        if not self._reading:
            return
        batch: list[RawMessage] = []
        try:
            read = self._cur.read_message
            for _ in range(MAX_DRAIN):
                msg = read()
                if msg is None:
                    break
                batch.append((msg.data_start, msg.payload))
            else:
                # More may be buffered in libpq (the socket might not be readable again).
                loop = self._loop
                assert loop is not None  # start() set it
                loop.call_soon(self._drain)
        except Exception as exc:  # connection lost, server shut down, ...
            self._broken(exc)
            return
        if batch:
            try:
                self._on_messages(batch)
            except Exception as exc:  # a bug downstream: never skip a message, end the session
                self._broken(exc)

    def confirm(self, lsn: int, force: bool = False) -> None:
        """Tell the server everything up to ``lsn`` is safely in Kafka."""
        if lsn > self.confirmed_lsn:
            self.confirmed_lsn = lsn
        if self._streaming:
            self._cur.send_feedback(
                write_lsn=self.confirmed_lsn, flush_lsn=self.confirmed_lsn, force=force
            )

    def keepalive(self) -> None:
        """Send status now and then even when no data flows (the server's timeout)."""
        if self._streaming:
            try:
                self._cur.send_feedback(force=True)
            except Exception as exc:
                self._broken(exc)

    def close(self) -> None:
        """Release everything; safe on a broken connection and when called twice."""
        self.pause()  # before closing: the fd number must not be reused while registered
        self._streaming = False
        self._fd = None
        conn, self._conn, self._cur = self._conn, None, None
        if conn is not None:
            try:
                conn.close()
            except Exception as exc:  # already broken
                log.debug("closing the replication connection: %r", exc)

    def describe(self) -> str:
        return f"slot {self.slot} confirmed {format_lsn(self.confirmed_lsn)}"
