"""The garbage collector of a long-running server process (docs/adr/0309).

Almost everything a request allocates is freed by reference counting; the cyclic
collector only has to find cycles. With CPython's defaults (a collection every
700 net allocations) the API ran ~55 collections a second under load, and every
full collection walked the whole heap: modules, the framework's routes, pools,
caches. Measured under 1,000 deposits/s, 13 full collections of up to 89 ms each
were the longest stalls of the process, longer than the p99 of a deposit.

So once a process has started (imports done, pools and clients built), what is
alive is moved out of the collector's sight (``gc.freeze``), and the young
generation is collected less often. Cycles are still collected; only the walks
over objects that live as long as the process are gone.
"""

from __future__ import annotations

import gc

# Net allocations of container objects between two young collections (default 700),
# young collections between two middle ones (10), middle ones between full ones (10).
GC_THRESHOLDS = (20_000, 20, 20)


def settle_heap() -> None:
    """Call once a process is ready to serve: collect, then freeze what survived."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
