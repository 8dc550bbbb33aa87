"""Counting this process's open client connections to a port (Linux /proc only)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass

__all__ = ["SocketPeak", "count_client_sockets", "watch_client_sockets"]


def count_client_sockets(port: int) -> int:
    """Open TCP sockets of this process whose remote end is ``port`` on any address.

    For leak and pool-bound checks against an emulator: server-side sockets of an
    in-process emulator do not count (their remote port is the client's), nor do
    connections in TIME_WAIT (no descriptor). Returns -1 where /proc is unavailable.
    """
    inodes: set[str] = set()
    found_table = False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as handle:
                found_table = True
                next(handle)
                for line in handle:
                    fields = line.split()
                    remote_port = int(fields[2].rsplit(":", 1)[1], 16)
                    if remote_port == port and fields[3] != "06":  # 06 = TIME_WAIT
                        inodes.add(fields[9])
        except OSError:
            continue
    if not found_table:
        return -1
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            count += 1
    return count


@dataclass
class SocketPeak:
    """What :func:`watch_client_sockets` saw: the count when it started, and the most
    sockets open at once since (``peak - baseline`` is what the watched code opened)."""

    baseline: int
    peak: int = 0


@contextlib.asynccontextmanager
async def watch_client_sockets(port: int, interval: float = 0.005) -> AsyncIterator[SocketPeak]:
    """Samples :func:`count_client_sockets` every ``interval`` seconds while the block runs.

    The sampling runs in this event loop and parses /proc/net/tcp, which lists every
    socket of the machine: it costs the loop CPU, so do not time code while watching it.
    """
    seen = SocketPeak(baseline=count_client_sockets(port))
    done = asyncio.Event()

    async def sample() -> None:
        while not done.is_set():
            seen.peak = max(seen.peak, count_client_sockets(port))
            await asyncio.sleep(interval)

    sampler = asyncio.create_task(sample())
    try:
        yield seen
    finally:
        done.set()
        await sampler
