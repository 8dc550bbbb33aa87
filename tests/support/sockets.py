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
    sockets = _client_sockets(port)
    return -1 if sockets is None else len(sockets)


def _client_sockets(port: int) -> set[str] | None:
    """The inodes of the sockets :func:`count_client_sockets` counts (None without /proc)."""
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
        return None
    mine: set[str] = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            mine.add(target[8:-1])
    return mine


@dataclass
class SocketPeak:
    """What :func:`watch_client_sockets` saw: how many sockets were already open when it
    started (``before``), and the most sockets opened since that were open at once
    (``peak``; sockets open before do not count, even if they close meanwhile)."""

    before: int
    peak: int = 0


@contextlib.asynccontextmanager
async def watch_client_sockets(port: int, interval: float = 0.005) -> AsyncIterator[SocketPeak]:
    """Samples this process's client sockets to ``port`` every ``interval`` seconds while
    the block runs (see :func:`count_client_sockets`).

    The sampling runs in this event loop and parses /proc/net/tcp, which lists every
    socket of the machine: it costs the loop CPU, so do not time code while watching it.
    Without /proc, ``before`` and ``peak`` stay -1.
    """
    earlier = _client_sockets(port)
    seen = SocketPeak(before=-1 if earlier is None else len(earlier))
    if earlier is None:
        seen.peak = -1
        yield seen
        return
    done = asyncio.Event()

    async def sample() -> None:
        while not done.is_set():
            now = _client_sockets(port) or set()
            seen.peak = max(seen.peak, len(now - earlier))
            await asyncio.sleep(interval)

    sampler = asyncio.create_task(sample())
    try:
        yield seen
    finally:
        done.set()
        await sampler
