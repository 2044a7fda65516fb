"""Process groups: the one implementation of starting, signalling, stopping and waiting for a
process group, used by the emulator's job processes and by the development tools (the local
Airflow stack, benchmarks, browser tests). Standard library only; Linux ``/proc`` where present.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterable

__all__ = [
    "group_alive",
    "group_members",
    "kill_groups",
    "pid_alive",
    "signal_group",
    "stop_group",
    "wait_group_gone",
]


def _stat(pid: int | str) -> tuple[bytes, bytes] | None:
    """(state letter, process group id) of ``pid`` from ``/proc/<pid>/stat``; None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (fields[0], fields[2]) if len(fields) > 2 else None


def _live(state: bytes) -> bool:
    return state not in (b"Z", b"X")


def group_members(pgid: int) -> list[int] | None:
    """The pids of process group ``pgid`` that are not zombies (None where there is no ``/proc``)."""
    try:
        entries = os.listdir("/proc")
    except OSError:  # pragma: no cover - not Linux
        return None
    target = str(pgid).encode()
    members = []
    for entry in entries:
        if not entry.isdigit():
            continue
        stat = _stat(entry)
        if stat is not None and stat[1] == target and _live(stat[0]):
            members.append(int(entry))
    return members


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (any member of a group, leader or not)."""
    if os.path.isdir("/proc/self"):
        stat = _stat(pid)
        return stat is not None and _live(stat[0])
    try:  # pragma: no cover - no /proc (macOS): zombies count as alive
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def group_alive(pgid: int) -> bool:
    """Whether a live (non-zombie) process of group ``pgid`` is left; its leader may be gone.

    Zombies do not count: orphans whose parent exited wait for init to reap them, which may
    take a while (or never happen in some containers), yet they are gone.
    """
    members = group_members(pgid)
    if members is not None:
        return bool(members)
    try:  # pragma: no cover - no /proc (macOS): any member, zombies included
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def signal_group(pgid: int, sig: int) -> None:
    """Send ``sig`` to process group ``pgid`` (nothing when it is gone)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def wait_group_gone(pgid: int, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds until group ``pgid`` has no live member; True if it has none."""
    deadline = time.monotonic() + timeout
    while group_alive(pgid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.005)
    return True


def stop_group(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """Stop the process group led by ``proc`` (started with ``start_new_session=True``): SIGTERM,
    ``grace`` seconds, then SIGKILL of whatever is left; reap the leader and close its pipes."""
    signal_group(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        pass
    if not wait_group_gone(proc.pid, 0 if proc.poll() is None else grace):
        signal_group(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)
        wait_group_gone(proc.pid, 5)
    for stream in (proc.stdout, proc.stdin, proc.stderr):
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.close()


def kill_groups(procs: Iterable[subprocess.Popen], timeout: float = 5.0) -> None:
    """SIGKILL the process group of each of ``procs`` (even if its leader already exited), reap
    the leaders and wait until no member is left."""
    procs = list(procs)
    for proc in procs:
        signal_group(proc.pid, signal.SIGKILL)
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=timeout)
    deadline = time.monotonic() + timeout
    for proc in procs:
        wait_group_gone(proc.pid, max(0.0, deadline - time.monotonic()))
