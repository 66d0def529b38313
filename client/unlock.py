"""Staying signed in: the refresh token kept on the device, unlocked by a PIN or the
device's biometrics.

What is kept (``StoredSession`` under ``VAULT_KEY`` in the ``SecretStore``):
- with a PIN: the refresh token sealed with AES-GCM under a key derived from the
  PIN (scrypt, a fresh salt per PIN). A wrong PIN fails the seal's check; after
  ``MAX_PIN_FAILURES`` wrong PINs in a row the stored session is dropped and the
  password is needed. Each refresh rotates the token, and the new one is sealed
  again with the key kept in memory while the app is unlocked (never the PIN).
- with device unlock (flet-local-auth, only where secure storage also runs): the
  refresh token as the OS keystore keeps it; unlocking asks the device.

Either way the server stays the judge: a refresh token that was revoked (sign out
everywhere, a reused rotation) is refused there and the stored session is dropped.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from client.device_security import DeviceAuth, SecretStore

VAULT_KEY = "bank.session.v1"
MAX_PIN_FAILURES = 5
PIN_RE = re.compile(r"^\d{4,8}$")
SCRYPT_N = 2**14  # ~50 ms on a phone-class CPU: slows guessing, not the customer

UnlockMethod = Literal["pin", "device"]


class StoredSession(msgspec.Struct, kw_only=True):
    email: str
    full_name: str = ""
    api_url: str
    method: UnlockMethod
    token: str  # "pin": base64(nonce + AES-GCM(refresh token)); "device": the token
    salt: str = ""  # base64, "pin" only
    failures: int = 0
    saved_at: datetime


_decoder = msgspec.json.Decoder(StoredSession)
_encoder = msgspec.json.Encoder()


class InvalidPinError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class PinResult:
    refresh_token: str | None  # set when unlocked
    remaining: int  # wrong PINs left before the stored session is dropped
    dropped: bool = False  # too many wrong PINs: the password is needed


def check_pin(pin: str) -> None:
    if not PIN_RE.match(pin):
        raise InvalidPinError("Use 4 to 8 digits.")


def _derive(pin: str, salt: bytes) -> bytes:
    return hashlib.scrypt(pin.encode(), salt=salt, n=SCRYPT_N, r=8, p=1, dklen=32)


def _seal(key: bytes, token: str, aad: bytes) -> str:
    nonce = os.urandom(12)
    return base64.b64encode(nonce + AESGCM(key).encrypt(nonce, token.encode(), aad)).decode()


def _open(key: bytes, sealed: str, aad: bytes) -> str:
    raw = base64.b64decode(sealed)
    return AESGCM(key).decrypt(raw[:12], raw[12:], aad).decode()


class SessionVault:
    def __init__(self, secrets: SecretStore, device_auth: DeviceAuth) -> None:
        self.secrets = secrets
        self.device_auth = device_auth
        self._key: bytes | None = None  # while unlocked with a PIN, to seal rotated tokens
        self._current: StoredSession | None = None

    @property
    def protection(self) -> str:
        return self.secrets.protection

    async def device_unlock_possible(self) -> bool:
        """Biometrics only where the token itself sits in the OS keystore."""
        return self.secrets.hardware_backed and await self.device_auth.available()

    async def stored(self) -> StoredSession | None:
        raw = await self.secrets.get(VAULT_KEY)
        if not raw:
            return None
        try:
            return _decoder.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError):
            await self.forget()
            return None

    async def _save(self, s: StoredSession) -> None:
        await self.secrets.set(VAULT_KEY, _encoder.encode(s).decode())
        self._current = s

    async def remember_with_pin(
        self, email: str, full_name: str, api_url: str, refresh_token: str, pin: str
    ) -> None:
        check_pin(pin)
        salt = os.urandom(16)
        key = _derive(pin, salt)
        await self._save(
            StoredSession(
                email=email,
                full_name=full_name,
                api_url=api_url,
                method="pin",
                token=_seal(key, refresh_token, email.encode()),
                salt=base64.b64encode(salt).decode(),
                saved_at=datetime.now(UTC),
            )
        )
        self._key = key

    async def remember_with_device(
        self, email: str, full_name: str, api_url: str, refresh_token: str
    ) -> bool:
        if not await self.device_unlock_possible():
            return False
        await self._save(
            StoredSession(
                email=email,
                full_name=full_name,
                api_url=api_url,
                method="device",
                token=refresh_token,
                saved_at=datetime.now(UTC),
            )
        )
        self._key = None
        return True

    async def unlock_with_pin(self, pin: str) -> PinResult:
        s = await self.stored()
        if s is None or s.method != "pin":
            return PinResult(None, 0, dropped=True)
        key = _derive(pin, base64.b64decode(s.salt)) if PIN_RE.match(pin) else None
        try:
            if key is None:
                raise InvalidTag()
            token = _open(key, s.token, s.email.encode())
        except (InvalidTag, ValueError):
            s.failures += 1
            if s.failures >= MAX_PIN_FAILURES:
                await self.forget()
                return PinResult(None, 0, dropped=True)
            await self._save(s)
            return PinResult(None, MAX_PIN_FAILURES - s.failures)
        if s.failures:
            s.failures = 0
            await self._save(s)
        self._key, self._current = key, s
        return PinResult(token, MAX_PIN_FAILURES)

    async def unlock_with_device(self, reason: str) -> str | None:
        s = await self.stored()
        if s is None or s.method != "device":
            return None
        if not await self.device_auth.authenticate(reason):
            return None
        self._current = s
        return s.token

    async def rotated(self, refresh_token: str) -> None:
        """The server rotated the refresh token: keep the new one (if a session is kept)."""
        s = self._current
        if s is None:
            return
        if s.method == "pin":
            if self._key is None:
                return
            s.token = _seal(self._key, refresh_token, s.email.encode())
        else:
            s.token = refresh_token
        await self._save(s)

    async def moved(self, old: str, new: str) -> None:
        """The customer's email changed from ``old`` to ``new``: a session kept for ``old``
        is kept for ``new``. A PIN-sealed token is bound to the email, so it is sealed again,
        which takes the PIN's key (unlocked with it in this run); without the key the kept
        session goes (the customer keeps it again in Settings)."""
        s = await self.stored()
        if s is None or s.email.lower() != old.lower():
            return
        if s.method == "pin":
            try:
                if self._key is None:
                    raise InvalidTag()
                token = _open(self._key, s.token, s.email.encode())
            except (InvalidTag, ValueError):
                await self.forget()
                return
            s.token = _seal(self._key, token, new.encode())
        s.email = new
        # Written as it is, not made current: a kept session this run did not unlock
        # keeps its own refresh token.
        await self.secrets.set(VAULT_KEY, _encoder.encode(s).decode())
        if self._current is not None:
            self._current = s

    def lock(self) -> None:
        """Forget the key in memory (the stored session stays)."""
        self._key, self._current = None, None

    async def forget(self) -> None:
        """Sign out, sign out everywhere, too many wrong PINs, a refused token."""
        self.lock()
        await self.secrets.delete(VAULT_KEY)
