"""The connector's partitioner agrees with Kafka's default one (aiokafka's copy of the
Java client's murmur2), for every key length and tail."""

from __future__ import annotations

import random
import uuid

from aiokafka.partitioner import murmur2 as reference_murmur2

from cdc.partitioner import murmur2, partition_for


def test_murmur2_matches_the_kafka_clients_for_every_length() -> None:
    rng = random.Random(12)
    for length in range(0, 70):
        for _ in range(50):
            key = rng.randbytes(length)
            assert murmur2(key) == reference_murmur2(key), key


def test_a_stream_id_key_lands_where_the_java_client_puts_it() -> None:
    for _ in range(500):
        key = str(uuid.uuid4()).encode()
        expected = (reference_murmur2(key) & 0x7FFFFFFF) % 8
        assert partition_for(key, 8) == expected
    # Known value of the Java client's Utils.murmur2 (kafka-clients' own test vector).
    assert murmur2(b"21") == (-973932308) & 0xFFFFFFFF
