"""``python -m tests.support.wedgeable_api``: the API (``python -m server.api``), whose
processes block their event loop for ``WEDGE_SECONDS`` (30 s) when sent SIGUSR1, as a
call that never returns would. A Python signal handler runs in the main thread, which
is the loop's. Each worker that uvicorn spawns imports this module again (as
``__mp_main__``), so every worker has the handler."""

from __future__ import annotations

import os
import signal
import time

WEDGE_SECONDS = 30.0


def wedge_the_loop(signum: int, frame: object) -> None:
    time.sleep(float(os.environ.get("WEDGE_SECONDS", WEDGE_SECONDS)))


signal.signal(signal.SIGUSR1, wedge_the_loop)

if __name__ == "__main__":
    from server.api.__main__ import main

    main()
