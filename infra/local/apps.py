"""How each app process of the platform is started on top of an EmbeddedStack.

Each is started only when its module exists in the repo, so `up` works at every
commit while the modules are being written.
"""

from __future__ import annotations

from collections.abc import Mapping

from infra.local.ports import HOST, free_port
from infra.local.procs import ManagedProcess, http_ready, tcp_ready
from infra.local.stack import EmbeddedStack, module_exists
from infra.local.tls import ensure_self_signed

API_APP = "server.api.app:create_app"


def api_available() -> bool:
    return module_exists(API_APP)


def start_api(
    stack: EmbeddedStack,
    *,
    tls: bool = False,
    timeout: float = 60.0,
    name: str = "api",
    port: int | None = None,
    extra_env: Mapping[str, str] | None = None,
    module: str = "server.api",
) -> ManagedProcess:
    """`python -m server.api` (uvicorn serving create_app()); ready when GET /health/live is 2xx.

    The main instance is "api" on the stack's API port; more instances (for fan-out
    or settings-specific tests) take another name and port. ``proc.url`` is the base URL.
    A test may run the API through a ``module`` of its own that wraps it.
    """
    port = port or (stack.ports.api if name == "api" else free_port())
    args = ["-m", module]  # uvicorn, configured from the BANK_ settings below
    scheme = "https" if tls else "http"
    if name == "api":
        stack.api_scheme = scheme
    url = f"{scheme}://{HOST}:{port}"
    env = {"BANK_API_HOST": HOST, "BANK_API_PORT": str(port), "BANK_API_URL": url}
    if tls:
        key, cert = ensure_self_signed(stack.data_dir / "tls")
        env |= {"BANK_TLS_KEYFILE": str(key), "BANK_TLS_CERTFILE": str(cert)}
    env |= dict(extra_env or {})
    proc = stack.spawn(
        name,
        args,
        ready=http_ready(f"{url}/health/live"),
        port=port,
        extra_env=env,
        wait=False,
    )
    proc.url = url
    return proc.wait_ready(timeout)


def _start_pipeline_process(
    stack: EmbeddedStack, name: str, module: str, port: int, wait: bool, timeout: float
) -> ManagedProcess:
    """A pipeline process (infra/local/health.PIPELINE); ready when its metrics port
    answers, where it also serves GET /health."""
    return stack.spawn(
        name, ["-m", module], ready=tcp_ready(port), port=port, wait=wait, timeout=timeout
    )


def start_cdc(stack: EmbeddedStack, *, wait: bool = True, timeout: float = 30.0) -> ManagedProcess:
    """The CDC connector."""
    return _start_pipeline_process(stack, "cdc", "cdc", stack.ports.cdc_metrics, wait, timeout)


def start_projections(
    stack: EmbeddedStack, *, wait: bool = True, timeout: float = 30.0
) -> ManagedProcess:
    """The projection worker."""
    port = stack.ports.projections_metrics
    return _start_pipeline_process(stack, "projections", "server.projections", port, wait, timeout)


def start_notifications(
    stack: EmbeddedStack, *, wait: bool = True, timeout: float = 30.0
) -> ManagedProcess:
    """The notification consumer."""
    port = stack.ports.notifications_metrics
    return _start_pipeline_process(
        stack, "notifications", "server.notifications", port, wait, timeout
    )


def start_scheduler(
    stack: EmbeddedStack, *, wait: bool = True, timeout: float = 30.0
) -> ManagedProcess:
    """The standing-order scheduler (docs/adr/0711)."""
    port = stack.ports.scheduler_metrics
    return _start_pipeline_process(stack, "scheduler", "server.scheduler", port, wait, timeout)


def start_client(
    stack: EmbeddedStack, *, wait: bool = True, timeout: float = 60.0
) -> ManagedProcess:
    """The Flet client in web mode (offline: no CDN)."""
    return stack.spawn(
        "client",
        ["-m", "client", "--web", "--port", str(stack.ports.client)],
        ready=tcp_ready(stack.ports.client),
        port=stack.ports.client,
        extra_env={"FLET_WEB_NO_CDN": "1"},
        wait=wait,
        timeout=timeout,
    )


# name → (module that must exist, starter)
APPS = {
    "api": (API_APP, start_api),
    "cdc": ("cdc", start_cdc),
    "projections": ("server.projections", start_projections),
    "notifications": ("server.notifications", start_notifications),
    "client": ("client", start_client),
    "scheduler": ("server.scheduler", start_scheduler),
}
