"""Schemas shared by the server, the CDC connector and the client.

Everything that crosses a process boundary (HTTP bodies, Kafka payloads,
WebSocket messages) is one of these msgspec Structs. This package imports
nothing of ours and does no I/O.
"""
