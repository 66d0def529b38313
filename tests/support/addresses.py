"""A client address of its own for a test whose failures count per address (sign-in and
reset-code lockouts, password spraying): sent as ``X-Forwarded-For``, which the local
stack's API trusts from loopback.

Each call gives an address no other call of this test process gives, so one test's
lockout never reaches another's: the tests of a process share one stack (one Redis),
and addresses drawn at random from a /24 collided (a reset-code test was locked out by
a spraying test of another file, 1 in 250 runs of the two).
"""

from __future__ import annotations

import itertools

_next = itertools.count(1)


def address_of_its_own() -> dict[str, str]:
    """``{"X-Forwarded-For": a private address (10.0.0.0/8) not given before}``."""
    n = next(_next)
    return {"X-Forwarded-For": f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"}
