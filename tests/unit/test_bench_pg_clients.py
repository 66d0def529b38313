"""bench.pg_clients: each PostgreSQL process named by its title and its client's socket,
and its CPU over a run divided by the commands served."""

from __future__ import annotations

import os
import socket
import sys

import pytest

from bench.pg_clients import EXITED, by_client, per_command, port_owners, process_title


def test_a_backend_title_gives_its_clients_port_and_a_background_process_its_kind() -> None:
    assert process_title("postgres: bank_app bank 127.0.0.1(43210) idle") == (
        "client backend",
        43210,
    )
    assert process_title("postgres: bank bank 127.0.0.1(5001) INSERT waiting") == (
        "client backend",
        5001,
    )
    assert process_title("postgres: walsender bank 127.0.0.1(40002) START_REPLICATION") == (
        "walsender",
        40002,
    )
    assert process_title("postgres: walwriter ") == ("walwriter", None)
    assert process_title("postgres: background writer") == ("background writer", None)
    assert process_title("postgres: autovacuum worker bank") == ("autovacuum worker", None)
    assert process_title("postgres: io worker 2") == ("io worker", None)


def test_cpu_is_summed_by_client_and_an_exited_backend_counts_only_its_time_in_the_run() -> None:
    postmaster = 1
    names = {10: "client backend of api", 11: "client backend of api", 12: "walwriter"}
    before = {1: 0.5, 10: 2.0, 11: 1.0, 12: 0.1, 13: 4.0}  # 13 exits during the run
    after = {1: 0.5, 10: 2.5, 11: 1.25, 12: 0.15, 14: 0.2}  # 14 starts during the run
    # The postmaster reaped 13 (its whole life: 4.0 before the run and 0.3 in it).
    seconds = by_client(before, after, 4.3, names, postmaster)
    assert seconds == pytest.approx(
        {
            "postmaster": 0.0,
            "client backend of api": 0.75,
            "walwriter": 0.05,
            "unnamed process": 0.2,
            EXITED: 0.3,
        }
    )
    assert per_command(seconds, 1_000) == {
        "client backend of api": 750.0,
        EXITED: 300.0,
        "unnamed process": 200.0,
        "walwriter": 50.0,
        "postmaster": 0.0,
    }
    assert per_command(seconds, 0) == {}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads sockets through /proc")
def test_a_port_is_owned_by_the_process_that_holds_its_socket() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(server.getsockname())
    try:
        port = client.getsockname()[1]
        assert port_owners({"this test": os.getpid()}).get(port) == "this test"
    finally:
        client.close()
        server.close()
