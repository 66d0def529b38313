"""Connections over TLS built from settings, against real servers.

The embedded servers here are built without TLS (PostgreSQL and redis-server from
their wheels report no SSL support; Tansu has only plain listeners), so each test
puts a TLS-terminating proxy (Python's ssl, a certificate from
infra/local/tls.py) in front of a real server: the client side is exactly what
production runs — the settings' URL or Kafka arguments, certificate verified
against BANK_*_CA_FILE — and the bytes reach a real Redis and a real Kafka broker.
SASL cannot be exercised: Tansu has no SASL (tests/unit/test_settings_kafka.py
checks the SASL arguments against aiokafka's own validation instead).
"""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from uuid import UUID

import asyncpg
import httpx
import msgspec
import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from infra.local.ports import free_port
from infra.local.procs import ManagedProcess
from infra.local.services import tansu_bin
from infra.local.stack import EmbeddedStack
from infra.local.tls import ensure_self_signed
from runtime import kafka
from runtime.settings import Settings
from server.readmodel.cache import live_channel
from tests.integration.test_notifications import consumer_with, push_due, wait_inbox
from tests.support.customers import sign_up
from tests.support.links import database_url_through, port_of
from tests.support.pubsub import subscribed


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return ensure_self_signed(tmp_path_factory.mktemp("tls"))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        writer.close()


@asynccontextmanager
async def tls_proxy(cert: tuple[Path, Path], target_port: int) -> AsyncIterator[int]:
    """A TLS listener on 127.0.0.1 that forwards the plaintext to target_port."""
    key, crt = cert
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(crt, key)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target_port)
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


SSL_REQUEST = (8).to_bytes(4, "big") + (80877103).to_bytes(4, "big")


@asynccontextmanager
async def pg_tls_proxy(
    cert: tuple[Path, Path], pg_port: int
) -> AsyncIterator[tuple[int, list[bool]]]:
    """A PostgreSQL TLS proxy on 127.0.0.1: PostgreSQL negotiates TLS in-protocol
    (SSLRequest, then 'S'); the proxy answers it, upgrades the client's connection and
    forwards the plaintext protocol to pg_port. Yields its port and, per connection,
    whether TLS was negotiated."""
    key, crt = cert
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(crt, key)
    negotiated: list[bool] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first = await reader.readexactly(8)
        if first != SSL_REQUEST:
            negotiated.append(False)
            writer.close()
            return
        writer.write(b"S")
        await writer.drain()
        try:
            await writer.start_tls(context)
        except (ConnectionError, ssl.SSLError):
            return  # the client refused our certificate
        negotiated.append(True)
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", pg_port)
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], negotiated
    finally:
        server.close()


def this_run(proc: ManagedProcess) -> str:
    """The log of the process since its latest start (its log file keeps earlier runs)."""
    return proc.log_tail(400).rsplit(" start: ", 1)[-1]


async def test_redis_over_rediss_with_the_ca_from_settings(
    stack: EmbeddedStack, cert: tuple[Path, Path]
) -> None:
    async with tls_proxy(cert, port_of(stack.redis_url)) as tls_port:
        settings = Settings(
            redis_url=f"rediss://localhost:{tls_port}/0", redis_ca_file=str(cert[1])
        )
        client = aioredis.Redis.from_url(settings.redis_url)
        try:
            assert await client.ping()
            await client.set("tls-check", "over tls")
            assert await client.get("tls-check") == b"over tls"
        finally:
            await client.aclose()
        # Without our CA (the system's only), the self-signed server is refused.
        untrusted = aioredis.Redis.from_url(Settings(redis_url=settings.redis.url).redis_url)
        with pytest.raises(Exception, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
            await untrusted.ping()
        await untrusted.aclose()


async def test_the_notification_consumer_reaches_postgresql_and_redis_over_tls_from_settings(
    http: httpx.AsyncClient,
    stack: EmbeddedStack,
    cert: tuple[Path, Path],
    tmp_path: Path,
    db: asyncpg.Pool,
    redis_client: aioredis.Redis,
    cdc: ManagedProcess,
    notifications: ManagedProcess,
) -> None:
    """The process, not a client built here: it stores through the PostgreSQL proxy
    (verify-full) and pushes live through the Redis one (rediss://), each certificate
    verified against the CA file of the settings; a database whose certificate another
    root signed is refused."""
    crt = str(cert[1])
    async with (
        tls_proxy(cert, port_of(stack.redis_url)) as rediss_port,
        pg_tls_proxy(cert, port_of(stack.database_url)) as (pg_port, negotiated),
    ):
        env = {
            "BANK_REDIS_URL": f"rediss://localhost:{rediss_port}/0",
            "BANK_REDIS_CA_FILE": crt,
            "BANK_DATABASE_URL": database_url_through(stack.database_url, pg_port, "localhost"),
            "BANK_DATABASE_SSLMODE": "verify-full",
            "BANK_DATABASE_SSLROOTCERT": crt,
        }
        with consumer_with(stack, notifications, env) as proc:
            ann = await sign_up(http, "Ann Secure")
            async with subscribed(redis_client, live_channel(UUID(ann.user_id))) as channel:
                [signed_in] = await wait_inbox(ann, "new_sign_in")
                deadline = time.monotonic() + 15
                pushed = None
                while pushed is None and time.monotonic() < deadline:
                    m = await channel.get_message(ignore_subscribe_messages=True, timeout=0.2)
                    if m is not None and b"NotificationReceived" in m["data"]:
                        pushed = msgspec.json.decode(m["data"])
            assert pushed is not None, proc.log_tail()
            assert pushed["notification"]["id"] == signed_in["id"]
            # Marked pushed once the push provider had it too (after the live push).
            while await push_due(db, signed_in["id"]) and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            assert not await push_due(db, signed_in["id"]), proc.log_tail()
        assert negotiated and all(negotiated)

        _, other_root = ensure_self_signed(tmp_path / "other")
        env["BANK_DATABASE_SSLROOTCERT"] = str(other_root)
        with consumer_with(stack, notifications, env, ready=False) as proc:
            deadline = time.monotonic() + 30
            while "CERTIFICATE_VERIFY_FAILED" not in this_run(proc):
                assert time.monotonic() < deadline, this_run(proc)
                await asyncio.sleep(0.2)


async def test_kafka_over_ssl_with_the_ca_from_settings(cert: tuple[Path, Path]) -> None:
    # A broker of our own whose advertised listener is the TLS proxy, so metadata
    # sends every client connection through TLS.
    plain, tls_port = free_port(), free_port()
    broker = subprocess.Popen(
        [
            str(tansu_bin()),
            "broker",
            "--listener-url",
            f"tcp://127.0.0.1:{plain}",
            "--advertised-listener-url",
            f"tcp://localhost:{tls_port}",
            "--storage-engine",
            "memory://tansu/",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    key, crt = cert
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(crt, key)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", plain)
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    server = await asyncio.start_server(handle, "127.0.0.1", tls_port, ssl=context)
    try:
        settings = Settings(
            kafka_bootstrap=f"localhost:{tls_port}",
            kafka_security_protocol="SSL",
            kafka_ca_file=str(crt),
        )
        admin = AIOKafkaAdminClient(**kafka.admin_kwargs(settings.kafka))
        for _ in range(100):  # the broker process starting
            try:
                await admin.start()
                break
            except Exception:
                await asyncio.sleep(0.1)
        else:
            pytest.fail("no TLS connection to the broker within 10 s")
        await admin.create_topics([NewTopic("tls-check", 1, 1)])
        await admin.close()
        producer = AIOKafkaProducer(**kafka.producer_kwargs(settings.kafka, acks="all"))
        await producer.start()
        try:
            await producer.send_and_wait("tls-check", b"over tls", key=b"k")
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            "tls-check",
            **kafka.consumer_kwargs(settings.kafka, auto_offset_reset="earliest", group_id=None),
        )
        await consumer.start()
        try:
            record = await asyncio.wait_for(consumer.getone(), timeout=20)
            assert record.value == b"over tls"
        finally:
            await consumer.stop()
    finally:
        server.close()
        broker.terminate()
        broker.wait(timeout=10)


async def test_postgres_with_sslmode_verify_full_and_the_root_cert_from_settings(
    stack: EmbeddedStack, cert: tuple[Path, Path], tmp_path: Path
) -> None:
    async with pg_tls_proxy(cert, port_of(stack.database_url)) as (port, negotiated):
        settings = Settings(
            database_url=database_url_through(stack.database_url, port, "localhost"),
            database_sslmode="verify-full",
            database_sslrootcert=str(cert[1]),
        )
        assert "sslmode=verify-full" in settings.database_url
        conn = await asyncpg.connect(settings.database_url)
        try:
            assert await conn.fetchval("SELECT 1") == 1
        finally:
            await conn.close()
        assert negotiated == [True]
        # verify-full refuses a server whose certificate another root signed.
        _, other_root = ensure_self_signed(tmp_path / "other")
        refused = Settings(
            database_url=database_url_through(stack.database_url, port, "localhost"),
            database_sslmode="verify-full",
            database_sslrootcert=str(other_root),
        )
        with pytest.raises(ssl.SSLCertVerificationError):
            await asyncpg.connect(refused.database_url)
