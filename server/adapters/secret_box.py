"""Secrets the bank keeps for its customers (two-step sign-in), sealed at rest.

AES-256-GCM under keys derived (HKDF-SHA256) from the sealing keys the process is given
(``Settings.sealing_keys``: its own, then the API's signing key), with a label of their
own: a key that opens nothing else. The customer's id is the associated data, so a
sealed value copied to another user's row does not open.

The first key seals; every key opens. A value sealed under a later one (an older key,
kept while it is rotated out) opens as ``stale``, and is sealed again under the first
(``two_step``, at the customer's next code; ``python -m server.maintenance
reseal-secrets``, all at once), after which the old key can go. A value no key opens
is an error (503 ``two_step_unavailable``, never skipped; docs/adr/0903).

Recovery codes are not sealed but digested (``digests``): HMAC-SHA256 under a key of
their own derived from each sealing key, over the customer's id and the code. The first
key's digest is kept; a typed code is looked for under every key's, so a key being
rotated out does not void the codes a customer wrote down.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from functools import lru_cache
from typing import NamedTuple
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_LABEL = b"bank two-step sign-in secrets v1"
_RECOVERY_LABEL = b"bank two-step recovery codes v1"
_NONCE_BYTES = 12


class UnreadableSecretError(Exception):
    """A sealed secret that no key opens (a key missing, another user, damage)."""


class Opened(NamedTuple):
    secret: bytes
    stale: bool  # sealed under an older key: to be sealed again under the first


def keyed_digest(master_key: str, label: bytes, value: bytes) -> bytes:
    """HMAC-SHA256 of ``value`` under a key derived from ``master_key`` for ``label``
    alone: what is kept of a code the bank gave, so that a copy of the table alone
    cannot be searched for the codes."""
    key = hmac.new(master_key.encode(), label, hashlib.sha256).digest()
    return hmac.new(key, value, hashlib.sha256).digest()


def _aead(master_key: str) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_LABEL).derive(
        master_key.encode()
    )
    return AESGCM(key)


class SecretBox:
    def __init__(self, *master_keys: str) -> None:
        if not master_keys:
            raise ValueError("a secret box needs a key")
        self._aeads = [_aead(k) for k in master_keys]
        self._master_keys = master_keys

    def seal(self, owner: UUID, secret: bytes) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._aeads[0].encrypt(nonce, secret, owner.bytes)

    def opened(self, owner: UUID, sealed: bytes) -> Opened:
        nonce, box = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
        for i, aead in enumerate(self._aeads):
            try:
                return Opened(aead.decrypt(nonce, box, owner.bytes), stale=i > 0)
            except (InvalidTag, ValueError):
                continue
        raise UnreadableSecretError("no sealing key opens the sealed secret")

    def open(self, owner: UUID, sealed: bytes) -> bytes:
        return self.opened(owner, sealed).secret

    def digests(self, owner: UUID, code: str) -> list[bytes]:
        """A recovery code's digest under each key, the first key's first (the one kept)."""
        value = owner.bytes + code.encode()
        return [keyed_digest(k, _RECOVERY_LABEL, value) for k in self._master_keys]


@lru_cache(maxsize=4)
def box_for(master_keys: tuple[str, ...]) -> SecretBox:
    """One box per set of keys, built once (the key derivation is not free)."""
    return SecretBox(*master_keys)
