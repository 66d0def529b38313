"""Run the app: ``python -m client`` (desktop window) or ``python -m client --web --port N``.

In web mode the Flutter client is served from the flet-web wheel with CanvasKit
bundled (no CDN), and the app's Python code runs in this process: its REST and
WebSocket calls to the bank go from here to ``--api-url`` (or BANK_API_URL).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

import flet as ft

from client.app import make_main

DEFAULT_API_URL = "http://127.0.0.1:8000"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m client", description="Northwind Bank app")
    p.add_argument(
        "--web", action="store_true", help="serve the app to browsers instead of a window"
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=int(os.environ.get("BANK_CLIENT_PORT", "8550")))
    p.add_argument("--api-url", default=os.environ.get("BANK_API_URL", DEFAULT_API_URL))
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=os.environ.get("BANK_CLIENT_LOG_LEVEL", "INFO"))
    logging.getLogger("flet").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    app = make_main(args.api_url.rstrip("/"))
    if args.web:
        print(
            f"Bank app (web) on http://{args.host}:{args.port}/ talking to {args.api_url}",
            flush=True,
        )
        ft.run(
            app,
            view=None,
            host=args.host,
            port=args.port,
            web_renderer=ft.WebRenderer.CANVAS_KIT,
            no_cdn=True,
        )
    else:
        if sys.platform.startswith("linux") and not (
            os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
        ):
            print(
                "No display here: serve the app to a browser with --web --port 8550.",
                file=sys.stderr,
            )
            raise SystemExit(2)
        # flet-desktop fetches the Flutter desktop runner on first use.
        ft.run(app)


if __name__ == "__main__":
    main()
