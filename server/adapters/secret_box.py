"""Secrets the bank keeps for its customers (two-step sign-in), sealed at rest.

AES-256-GCM under a key derived (HKDF-SHA256) from the API's signing key, with its own
label: one secret for the process to be given, and a key that opens nothing else. The
customer's id is the associated data, so a sealed value copied to another user's row
does not open. Rotating the signing key makes the sealed secrets unreadable (503
``two_step_unavailable``, never skipped; docs/adr/0902).
"""

from __future__ import annotations

import os
from functools import lru_cache
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_LABEL = b"bank two-step sign-in secrets v1"
_NONCE_BYTES = 12


class UnreadableSecretError(Exception):
    """A sealed secret that this key does not open (another key, another user, damage)."""


class SecretBox:
    def __init__(self, master_key: str) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_LABEL).derive(
            master_key.encode()
        )
        self._aead = AESGCM(key)

    def seal(self, owner: UUID, secret: bytes) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, secret, owner.bytes)

    def open(self, owner: UUID, sealed: bytes) -> bytes:
        try:
            return self._aead.decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], owner.bytes)
        except (InvalidTag, ValueError) as exc:
            raise UnreadableSecretError(str(exc) or "the sealed secret does not open") from None


@lru_cache(maxsize=4)
def box_for(master_key: str) -> SecretBox:
    """One box per key, built once (the key derivation is not free)."""
    return SecretBox(master_key)
