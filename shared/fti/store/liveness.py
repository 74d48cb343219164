"""Whether the process that left something behind still runs.

A staging folder of a model save, or a marker saying "this process is about to
commit", is only garbage once its owner is gone. A process id alone is not enough
(ids are reused), so the owner is recorded as its id and its start time
(/proc/PID/stat field 22, clock ticks since boot); a process with that id but another
start time is someone else.
"""

from __future__ import annotations

import os


def start_ticks(pid: int) -> int | None:
    """The start time of process ``pid`` in clock ticks since boot, or None (no such process, or no /proc)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            text = handle.read().decode(errors="replace")
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after its last ')'.
    fields = text[text.rfind(")") + 2:].split()
    if fields and fields[0] == "Z":  # a zombie has finished; only its exit status is left to read
        return -1
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def current_owner() -> tuple[int, int]:
    """This process as ``(pid, start ticks)`` (start 0 where /proc is missing)."""
    pid = os.getpid()
    return pid, start_ticks(pid) or 0


def is_alive(pid: int, started: int) -> bool:
    """Whether process ``pid`` that started at ``started`` ticks (0: unknown) is still running."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, under another user
    ticks = start_ticks(pid)
    if ticks == -1:
        return False  # a zombie: killed or finished, not yet reaped
    return not (started and ticks is not None and ticks != started)
