"""End every process an execution started, however it detached itself.

A notebook can start processes that outlive its kernel: a child started in a
new session (``subprocess.Popen(..., start_new_session=True)``) or a daemon
that double-forks leaves the kernel's process group, so killing that group at
the time limit misses it. Each execution is therefore *tagged*: its kernel gets
a unique `EXECUTION_TAG_VARIABLE` in its environment, every process it starts
inherits it, and `sweep` kills every process whose environment
(``/proc/PID/environ``, as the process was started) carries the tag.

Call `sweep` where the execution happened (a remote worker scans its own
machine), after the kernel has stopped, normally or at the time limit.

Why a tag and not a cgroup: a cgroup v2 catches every descendant whatever it
does to its environment, but it must be created and the kernel moved into it the
moment the kernel starts, inside the kernel manager, and it needs a writable
cgroup v2 hierarchy (often absent in containers, and not available to a
non-root user without systemd delegation). The tag needs only ``/proc``.

What the tag cannot catch: a process started with an environment that leaves
the tag out (``env={}``, or after ``del os.environ[...]`` in the kernel), or a
process running as another user. Linux only: where there is no ``/proc``,
`tagged_processes` finds nothing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from pathlib import Path

EXECUTION_TAG_VARIABLE = "FTI_EXECUTION_TAG"
# A process can fork while the sweep kills its parent: scan again until a scan finds nothing, this often at most.
MAX_ROUNDS = 20
# Between rounds: time for the kernel to deliver the kills, so a dying process is not counted as a new one.
_ROUND_PAUSE_SECONDS = 0.05
_PROC = Path("/proc")


def new_tag() -> str:
    """A tag no other execution has: put it in the kernel's environment as `EXECUTION_TAG_VARIABLE`."""
    return uuid.uuid4().hex


def tagged_processes(tag: str) -> list[int]:
    """Process ids of the live processes started with ``EXECUTION_TAG_VARIABLE=tag`` (never this process).

    A zombie (a process killed but not yet reaped) shows an empty environment and is not listed.

    Args:
        tag: The execution's tag (`new_tag`).
    """
    if not tag:
        return []
    wanted = f"{EXECUTION_TAG_VARIABLE}={tag}".encode()
    found = []
    try:
        entries = list(_PROC.iterdir())
    except OSError:
        return []
    for entry in entries:
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environment = (entry / "environ").read_bytes()
        except OSError:  # gone meanwhile, or another user's
            continue
        if wanted in environment.split(b"\0"):
            found.append(int(entry.name))
    return sorted(found)


def sweep(tag: str) -> list[int]:
    """Kill (SIGKILL) every process carrying ``tag``; returns the ids killed.

    Scans again after each round of kills, so a child forked by a process while
    it was being killed is found too.

    Args:
        tag: The execution's tag (`new_tag`); an empty tag kills nothing.
    """
    killed: set[int] = set()
    for _ in range(MAX_ROUNDS):
        found = tagged_processes(tag)
        if not found:
            break
        for pid in found:
            with contextlib.suppress(OSError):  # already gone
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
        time.sleep(_ROUND_PAUSE_SECONDS)
    return sorted(killed)
