"""Storage on the customer's device: the offline queue and the last known data.

Flet's ``SharedPreferences`` service keeps values on the device that renders the
app: the browser's localStorage in web mode, the platform's preferences store on
desktop and mobile. When that service does not answer (a desktop without the
plugin, a browser that is momentarily disconnected), a JSON file under the app's
data folder takes the value instead, and the next successful write catches up.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path
from typing import Protocol

import flet as ft

log = logging.getLogger(__name__)


class DeviceStore(Protocol):
    async def get(self, key: str) -> str | None: ...

    async def set(self, key: str, value: str) -> None: ...


class FileStore:
    """A JSON object in one file, replaced atomically on every write."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _load(self) -> dict[str, str]:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}

    async def get(self, key: str) -> str | None:
        return self._load().get(key)

    async def set(self, key: str, value: str) -> None:
        data = self._load()
        data[key] = value
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, self.path)


class PreferencesStore:
    """SharedPreferences on the device, with a file as the fallback."""

    def __init__(
        self, prefs: ft.SharedPreferences, fallback: FileStore | None, timeout: float = 3.0
    ):
        self.prefs = prefs
        self.fallback = fallback
        self.timeout = timeout

    async def get(self, key: str) -> str | None:
        try:
            value = await asyncio.wait_for(self.prefs.get(key), self.timeout)
            if isinstance(value, str):
                return value
        except Exception as e:  # noqa: BLE001 - any failure of the device channel
            log.info("preferences unavailable for get(%s): %s", key, e)
        return await self.fallback.get(key) if self.fallback else None

    async def set(self, key: str, value: str) -> None:
        try:
            await asyncio.wait_for(self.prefs.set(key, value), self.timeout)
            return
        except Exception as e:  # noqa: BLE001
            log.info("preferences unavailable for set(%s): %s", key, e)
            if self.fallback is None:
                raise
        await self.fallback.set(key, value)


def data_dir() -> Path:
    """Where a desktop app keeps its files (Flet sets FLET_APP_STORAGE_DATA when packaged)."""
    env = os.environ.get("FLET_APP_STORAGE_DATA")
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "bank-client"


def device_store(page: ft.Page) -> DeviceStore:
    prefs = ft.SharedPreferences()
    # In web mode the Python process is the server: its files are not the customer's
    # device, so there is no file fallback there.
    fallback = None if page.web else FileStore(data_dir() / "device.json")
    return PreferencesStore(prefs, fallback)
