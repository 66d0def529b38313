"""What the device offers to keep a session: a secret store and a local unlock.

Two small ports, each with the Flet extension where it runs and an honest fallback:

``SecretStore`` (get / set / delete of short strings)
  - ``FletSecretStore``: flet-secure-storage (Keychain on iOS/macOS, Keystore-backed
    EncryptedSharedPreferences on Android, Credential Locker on Windows, libsecret
    on Linux). Only in an app made with ``flet build``: the prebuilt web client
    (flet-web) and desktop runner (flet-desktop) do not contain the extension's
    Flutter code, so there it does not answer.
  - ``DeviceStoreSecrets``: the app's ordinary device storage (SharedPreferences:
    the browser's localStorage in web mode). It is NOT a secret store; the vault
    seals what it keeps there with a key derived from the customer's PIN
    (client/unlock.py), which keeps the refresh token from anyone who merely reads
    the storage, but not from someone who copies it and tries every PIN offline.

``DeviceAuth`` (fingerprint / face / device credential)
  - ``FletDeviceAuth``: flet-local-auth; Android, iOS, macOS and Windows builds only
    (the extension refuses web and Linux).
  - ``NoDeviceAuth``: the app PIN is the only way in.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any, Protocol

import flet as ft

from client.store import DeviceStore

log = logging.getLogger(__name__)

PROBE_SECONDS = 2.0


class SecretStore(Protocol):
    #: what the store itself protects against, in words shown in Settings
    protection: str
    #: True when the OS keeps the value (the vault may then skip sealing with a PIN)
    hardware_backed: bool

    async def get(self, key: str) -> str | None: ...

    async def set(self, key: str, value: str) -> None: ...

    async def delete(self, key: str) -> None: ...


class DeviceAuth(Protocol):
    async def available(self) -> bool: ...

    async def authenticate(self, reason: str) -> bool: ...


class DeviceStoreSecrets:
    """The device's ordinary storage, used where no secure storage runs."""

    protection = (
        "Kept in this browser's storage, sealed with your PIN: safe from a casual look, "
        "not from someone who copies the storage and tries every PIN."
    )
    hardware_backed = False

    def __init__(self, store: DeviceStore) -> None:
        self.store = store

    async def get(self, key: str) -> str | None:
        value = await self.store.get(key)
        return value or None

    async def set(self, key: str, value: str) -> None:
        await self.store.set(key, value)

    async def delete(self, key: str) -> None:
        await self.store.set(key, "")  # SharedPreferences has no delete in our port


class _SecureStorage(Protocol):
    """What FletSecretStore uses of flet_secure_storage.SecureStorage (untyped)."""

    def get(self, key: str) -> Awaitable[Any]: ...
    def set(self, key: str, value: str) -> Awaitable[Any]: ...
    def remove(self, key: str) -> Awaitable[Any]: ...


class _LocalAuth(Protocol):
    """What FletDeviceAuth uses of flet_local_auth.LocalAuthentication (untyped)."""

    def is_device_supported(self) -> Awaitable[Any]: ...
    def authenticate(
        self, reason: str, *, persist_across_backgrounding: bool
    ) -> Awaitable[Any]: ...


class FletSecretStore:
    """flet-secure-storage: the platform's keychain / keystore."""

    protection = "Kept in this device's secure storage (keychain / keystore)."
    hardware_backed = True

    def __init__(self, storage: _SecureStorage, timeout: float = 5.0) -> None:
        self.storage = storage
        self.timeout = timeout

    async def get(self, key: str) -> str | None:
        value = await asyncio.wait_for(self.storage.get(key), self.timeout)
        return value if isinstance(value, str) and value else None

    async def set(self, key: str, value: str) -> None:
        await asyncio.wait_for(self.storage.set(key, value), self.timeout)

    async def delete(self, key: str) -> None:
        await asyncio.wait_for(self.storage.remove(key), self.timeout)


class NoDeviceAuth:
    async def available(self) -> bool:
        return False

    async def authenticate(self, reason: str) -> bool:
        return False


class FletDeviceAuth:
    """flet-local-auth: biometrics or the device credential."""

    def __init__(self, auth: _LocalAuth, timeout: float = 60.0) -> None:
        self.auth = auth
        self.timeout = timeout

    async def available(self) -> bool:
        try:
            ok = await asyncio.wait_for(self.auth.is_device_supported(), PROBE_SECONDS)
        except Exception as e:  # noqa: BLE001 - no extension in this client: not available
            log.info("local authentication unavailable: %s", e)
            return False
        return bool(ok)

    async def authenticate(self, reason: str) -> bool:
        try:
            return bool(
                await asyncio.wait_for(
                    self.auth.authenticate(reason, persist_across_backgrounding=True),
                    self.timeout,
                )
            )
        except Exception as e:  # noqa: BLE001 - cancelled, locked out, failed: not unlocked
            log.info("local authentication refused: %s", e)
            return False


async def _secure_storage_works(store: FletSecretStore) -> bool:
    try:
        await asyncio.wait_for(store.get("bank.probe"), PROBE_SECONDS)
        return True
    except Exception as e:  # noqa: BLE001 - the extension is not in this client
        log.info("secure storage unavailable (%s): using the PIN-sealed fallback", e)
        return False


async def device_security(page: ft.Page, store: DeviceStore) -> tuple[SecretStore, DeviceAuth]:
    """The best this device offers. Web mode never has the extensions (see above)."""
    fallback = DeviceStoreSecrets(store)
    if page.web:
        return fallback, NoDeviceAuth()
    try:
        # Neither extension ships a py.typed marker; _SecureStorage and _LocalAuth (above)
        # type what this module uses of them.
        import flet_local_auth as fla  # type: ignore[import-untyped]
        import flet_secure_storage as fss  # type: ignore[import-untyped]
    except ImportError:  # a client installed without them
        return fallback, NoDeviceAuth()
    secure = FletSecretStore(fss.SecureStorage())
    secrets: SecretStore = secure if await _secure_storage_works(secure) else fallback
    auth: DeviceAuth = NoDeviceAuth()
    if page.platform not in (ft.PagePlatform.LINUX,):
        candidate = FletDeviceAuth(fla.LocalAuthentication())
        if await candidate.available():
            auth = candidate
    return secrets, auth
