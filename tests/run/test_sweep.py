"""The sweep: every process carrying an execution's tag is killed, even in a session of its own; no other."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from fti.run import sweep

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def _start(tag: str | None, *, grandchild: bool = False) -> subprocess.Popen:
    env = dict(os.environ)
    if tag is not None:
        env[sweep.EXECUTION_TAG_VARIABLE] = tag
    # A shell that starts a sleep in a new session and exits leaves the sleep orphaned, as a daemon would.
    command = ["sh", "-c", "setsid sleep 600 & echo $!"] if grandchild else ["sleep", "600"]
    return subprocess.Popen(command, env=env, start_new_session=True, stdout=subprocess.PIPE, text=True)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    with open(f"/proc/{pid}/stat") as handle:
        return handle.read().rsplit(")", 1)[1].split()[0] == "Z"  # killed, not yet collected by its parent


def test_sweep_kills_the_tagged_processes_and_no_other():
    tag = sweep.new_tag()
    tagged, untagged, other = _start(tag), _start(None), _start(sweep.new_tag())
    launcher = _start(tag, grandchild=True)
    orphan = int(launcher.stdout.readline())
    launcher.wait()
    try:
        assert set(sweep.tagged_processes(tag)) == {tagged.pid, orphan}
        assert set(sweep.sweep(tag)) == {tagged.pid, orphan}
        tagged.wait(timeout=10)
        assert _gone(orphan), "the orphan in a session of its own was missed"
        assert untagged.poll() is None and other.poll() is None, "a process without the tag was killed"
        assert sweep.tagged_processes(tag) == [] and sweep.sweep(tag) == []
    finally:
        for process in (tagged, untagged, other):
            process.kill()
            process.wait()


def test_an_empty_tag_matches_nothing():
    assert sweep.tagged_processes("") == [] and sweep.sweep("") == []
