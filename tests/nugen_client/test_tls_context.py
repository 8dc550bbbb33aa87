"""A TLS context (and its CA bundle) is built once per process for ``https://`` services,
never per client, and not at all for a plain ``http://`` one."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import pytest

from nugen_client import AsyncNugenClient, NugenClient
from nugen_client import _client as client_module
from tests.support.harness import API_KEY


@pytest.fixture
def ca_loads(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    client_module._tls_context.cache_clear()
    loads: list[object] = []
    original = ssl.SSLContext.load_verify_locations

    def counting(self: ssl.SSLContext, *args: Any, **kwargs: Any) -> None:
        loads.append(args or kwargs)
        original(self, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counting)
    return loads


def _open(kind: str, base_url: str) -> None:
    """Build a client's connections (no request is sent)."""
    if kind == "sync":
        with NugenClient(api_key=API_KEY, base_url=base_url) as client:
            client._client()
        return

    async def run() -> None:
        async with AsyncNugenClient(api_key=API_KEY, base_url=base_url) as client:
            pool = await client._pool()
            async with pool.lease():
                pass

    asyncio.run(run())


def test_https_clients_share_one_tls_context(kind: str, ca_loads: list[object]) -> None:
    for _ in range(3):
        _open(kind, "https://api.example.com/v1")
    assert len(ca_loads) == 1


def test_an_http_service_loads_no_ca_bundle(kind: str, ca_loads: list[object]) -> None:
    for _ in range(3):
        _open(kind, "http://127.0.0.1:9/v1")
    assert ca_loads == []
