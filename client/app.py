"""The app's composition root: one per page session (a browser tab or a desktop window)."""

from __future__ import annotations

import logging

import flet as ft

from client.cache import OfflineCache
from client.controller import Controller
from client.device_security import device_security
from client.state import AppState
from client.store import device_store
from client.unlock import SessionVault
from client.views.common import SEED
from client.views.settings import THEME_KEY, THEMES
from client.views.shell import Shell

log = logging.getLogger(__name__)


def make_main(api_url: str):
    async def main(page: ft.Page) -> None:
        page.title = "Northwind Bank"
        page.theme = ft.Theme(color_scheme_seed=SEED, use_material3=True)
        page.dark_theme = ft.Theme(color_scheme_seed=SEED, use_material3=True)
        page.padding = 0
        page.spacing = 0
        state = AppState(api_url)
        store = device_store(page)
        secrets, device_auth = await device_security(page, store)
        vault = SessionVault(secrets, device_auth)
        ctrl = Controller(state, store, vault, OfflineCache(store))
        theme = await store.get(THEME_KEY)
        page.theme_mode = THEMES.get(theme or "", ft.ThemeMode.SYSTEM)
        await ctrl.load_queue()
        shell = Shell(page, state, ctrl)
        kept = await vault.stored()
        if kept is not None and kept.api_url == state.api_url:
            shell.kept = kept  # unlock screen first

        async def reconnected(e: ft.Event[ft.Page]) -> None:
            await ctrl.on_device_reconnected()

        async def closed(e: ft.Event[ft.Page]) -> None:
            vault.lock()
            await ctrl.close()

        page.on_connect = reconnected
        page.on_close = closed
        page.on_resize = shell.on_resize
        shell.start()

    return main
