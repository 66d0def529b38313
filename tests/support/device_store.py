"""What a device keeps between app runs (the DeviceStore port), in memory, for tests of the
app that run its code without a device."""

from __future__ import annotations


class DeviceMemory:
    def __init__(self) -> None:
        self.data: dict[str, str] = {}

    async def get(self, key: str) -> str | None:
        return self.data.get(key)

    async def set(self, key: str, value: str) -> None:
        self.data[key] = value
