"""How fast this host is now, read at the start and the end of every bench run.

Two probes, because the host's speed moves in two ways that need not move together:

- ``cpu_probe_ms``: one core summing a million ints (best of 5). Interpreter code: it
  says how fast Python runs, and is read beside the interpreter that ran it (an optimised
  build takes about half the time of a plain one, docs/adr/0337).
- ``wakeup_probe``: two processes passing one byte back and forth over a socket pair,
  20,000 times: the wall time of a round trip and the CPU each side spends on it. Every
  command of the platform is a chain of such hand-offs (load generator, API, PostgreSQL,
  connector, broker, consumers), so this is the cost the arithmetic probe misses. On 7
  December the arithmetic probe read 6.6-7.2 ms, as on 5 December, yet wrk (C, unchanged)
  spent 22-26 µs of CPU a request against 10.6 on 5 December, and so did every process:
  the same code served 2,100-2,500 deposits/s against 3,643 (docs/adr/0366).
"""

from __future__ import annotations

import json
import subprocess
import sys
import timeit
from dataclasses import dataclass

ROUND_TRIPS = 20_000

# Run in a fresh interpreter: forking the bench itself (threads, an event loop) is not safe.
_WAKEUP = """
import json, os, resource, socket, sys, time
n = int(sys.argv[1])
a, b = socket.socketpair()
pid = os.fork()
if pid == 0:
    a.close()
    for _ in range(n):
        b.recv(1)
        b.send(b"y")
    os._exit(0)
b.close()
cpu0, t0 = time.process_time(), time.perf_counter()
for _ in range(n):
    a.send(b"x")
    a.recv(1)
wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
os.waitpid(pid, 0)
child = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"wall": wall, "parent": cpu, "child": child.ru_utime + child.ru_stime}))
"""


@dataclass(frozen=True, slots=True)
class Wakeup:
    round_trip_us: float  # wall time of one round trip
    cpu_us: float  # CPU of one side for one round trip (the mean of the two)

    def __str__(self) -> str:
        return (
            f"wake-up probe {self.round_trip_us:.1f} µs a round trip between two processes,"
            f" {self.cpu_us:.1f} µs of CPU a side"
        )


def cpu_probe_ms() -> float:
    return min(timeit.repeat("sum(range(1_000_000))", number=5, repeat=5)) / 5 * 1000


def wakeup_probe() -> Wakeup:
    out = subprocess.run(
        [sys.executable, "-c", _WAKEUP, str(ROUND_TRIPS)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    got = json.loads(out)
    return Wakeup(
        round_trip_us=got["wall"] / ROUND_TRIPS * 1e6,
        cpu_us=(got["parent"] + got["child"]) / 2 / ROUND_TRIPS * 1e6,
    )


def speed() -> str:
    """Both probes, as the bench's reports print them."""
    return f"CPU probe {cpu_probe_ms():.1f} ms (sum of a million ints), {wakeup_probe()}"
