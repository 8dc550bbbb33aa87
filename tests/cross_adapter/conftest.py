"""Fixtures of the reliability tests.

``retry_sleeps`` replaces the retry sleep of every client the two adapters build with a
recorder. Neither ``ChatNugen`` nor ``Nugen`` takes a ``sleep=`` or a ``RetryPolicy``, so
the seam is the client class the shared client cache (``nugen_shared.fields``) builds: the
retry loop, the policy and the delays it computes stay the real ones, only the waiting is
skipped.
``test_faults.py::test_backoff_really_waits`` checks once, per adapter, that without the
recorder the same delay is actually slept.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import nugen_client
from nugen_client import AsyncNugenClient, NugenClient
from nugen_emulator import NugenEmulator


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see only the configuration they set."""
    monkeypatch.delenv("NUGEN_API_KEY", raising=False)
    monkeypatch.delenv("NUGEN_BASE_URL", raising=False)


@pytest.fixture
def retry_sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The delays the adapters' clients waited before each retry (not actually slept)."""
    slept: list[float] = []

    async def record(seconds: float) -> None:
        slept.append(seconds)

    class RecordingClient(NugenClient):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(sleep=slept.append, **kwargs)

    class RecordingAsyncClient(AsyncNugenClient):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(sleep=record, **kwargs)

    # Both adapters build their clients in the shared client cache.
    monkeypatch.setattr(nugen_client, "NugenClient", RecordingClient)
    monkeypatch.setattr(nugen_client, "AsyncNugenClient", RecordingAsyncClient)
    return slept


@pytest.fixture
def emu(nugen_emulator: NugenEmulator) -> Iterator[NugenEmulator]:
    """The session emulator, reset; a test that leaves a fault armed counted wrong."""
    yield nugen_emulator
    assert nugen_emulator.pending_faults == 0, "armed faults were not all consumed"
