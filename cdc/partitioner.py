"""Which partition a keyed record goes to: Kafka's default partitioner (the Java
client's, librdkafka's ``murmur2_random`` and aiokafka's ``DefaultPartitioner``),
so records an integrator produces with the same key land on the same partition.

``murmur2`` gives the same hash as ``aiokafka.partitioner.murmur2`` at about half its
cost: it reads the key's 4-byte words with one ``struct`` call and masks once per
step instead of after every operation. The connector hashes every key it has not seen
before, and each transfer's own stream is such a key (docs/adr/0343)."""

from __future__ import annotations

import struct

_SEED = 0x9747B28C
_M = 0x5BD1E995
_MASK = 0xFFFFFFFF
_WORDS: dict[int, struct.Struct] = {}


def murmur2(data: bytes) -> int:
    """MurmurHash2 (32-bit, little-endian words) as Kafka's clients compute it."""
    length = len(data)
    n = length >> 2
    words = _WORDS.get(n)
    if words is None:
        words = _WORDS[n] = struct.Struct(f"<{n}I")
    h = _SEED ^ length
    for k in words.unpack_from(data):
        k = (k * _M) & _MASK
        k = ((k ^ (k >> 24)) * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    tail = length & 3
    if tail:
        base = length - tail
        if tail == 3:
            h ^= data[base + 2] << 16
        if tail >= 2:
            h ^= data[base + 1] << 8
        h = ((h ^ data[base]) * _M) & _MASK
    h = ((h ^ (h >> 13)) * _M) & _MASK
    return h ^ (h >> 15)


def partition_for(key: bytes, partitions: int) -> int:
    """The partition of ``key`` among ``partitions``."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions
