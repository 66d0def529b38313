"""`python -m server.api` takes host, port and TLS from the settings."""

import pytest

from runtime.settings import Settings
from server.api.__main__ import uvicorn_options


def test_plain_http_by_default() -> None:
    options = uvicorn_options(Settings(api_host="127.0.0.1", api_port=8123))
    assert options["host"] == "127.0.0.1" and options["port"] == 8123
    assert "ssl_certfile" not in options


def test_https_when_a_certificate_and_key_are_set() -> None:
    options = uvicorn_options(
        Settings(tls_certfile="/etc/tls/tls.crt", tls_keyfile="/etc/tls/tls.key")
    )
    assert options["ssl_certfile"] == "/etc/tls/tls.crt"
    assert options["ssl_keyfile"] == "/etc/tls/tls.key"


def test_half_a_tls_configuration_is_refused() -> None:
    with pytest.raises(SystemExit):
        uvicorn_options(Settings(tls_certfile="/etc/tls/tls.crt"))


def test_one_worker_by_default_and_one_per_core_when_asked() -> None:
    assert uvicorn_options(Settings())["workers"] == 1
    assert uvicorn_options(Settings(api_workers=3))["workers"] == 3
    assert uvicorn_options(Settings(api_workers=0))["workers"] >= 1


def test_a_negative_worker_count_is_refused() -> None:
    with pytest.raises(SystemExit):
        uvicorn_options(Settings(api_workers=-1))
