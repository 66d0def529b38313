"""The read side's CPU priority on the shared bench host, so that ADR 0328's
measurement can be repeated (``--read-side-nice N``).

Each process of the stack runs in a session of its own (``infra/local/procs.py``), and
PostgreSQL starts each backend in one, so on a kernel that groups by session
(``/proc/sys/kernel/sched_autogroup_enabled``) every process is a scheduling group of
its own. The cores are shared between groups by the group's nice
(``/proc/<pid>/autogroup``); a thread's nice counts only among the threads of its
group. Renicing the threads alone therefore changes nothing between our processes,
which is how the first measurements of ADR 0328 went wrong.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from infra.local.health import PIPELINE

# The processes of the stack that are off the write path: a command is answered
# before they see it (the live push and the notifications go through them).
READ_SIDE = (*PIPELINE, "kafka")

_AUTOGROUP = re.compile(r"nice (-?\d+)")


def set_group_nice(pid: int, nice: int) -> None:
    """Give ``pid``'s scheduling group and each of its threads this nice (threads it
    starts later take their creator's). Raising it needs no privilege."""
    group = Path(f"/proc/{pid}/autogroup")
    if group.exists():  # a kernel built without autogroups has only the threads' nice
        group.write_text(str(nice))
    for task in Path(f"/proc/{pid}/task").iterdir():
        os.setpriority(os.PRIO_PROCESS, int(task.name), nice)


def group_nice(pid: int) -> int | None:
    """The nice of ``pid``'s scheduling group; None without autogroups."""
    group = Path(f"/proc/{pid}/autogroup")
    if not group.exists():
        return None
    m = _AUTOGROUP.search(group.read_text())
    return int(m[1]) if m else None


def lower_read_side(pids: dict[str, int], nice: int) -> list[str]:
    """Set the nice of the read side's processes among ``pids`` (name -> pid); the
    names it set, in READ_SIDE's order."""
    done = []
    for name in READ_SIDE:
        if name in pids:
            set_group_nice(pids[name], nice)
            done.append(name)
    return done
