"""The lazily built ``nugen_client`` clients of one model object.

A model holds a :class:`ClientCache` in a private attribute. It is a cache, not state:
pickling, deep-copying or shallow-copying a model gives the copy an empty one (a fresh
connection pool on first use), and it never takes part in equality. A client is built on
first use and rebuilt only when a client setting of the model changed since (one dict
comparison per call, never a new pool per call); a sync client's pool is closed when it is
replaced or when its model is garbage-collected.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping
from typing import Any, Protocol

from pydantic import SecretStr

from nugen_client import AsyncNugenClient, NugenClient

__all__ = ["ClientCache", "ClientSettings", "client_settings"]


class ClientSettings(Protocol):
    """The model fields a client is built from."""

    api_key: SecretStr | None
    base_url: str | None
    timeout: float | None
    max_retries: int
    default_headers: dict[str, str] | None
    session_id: str | None
    provider: str | None
    allow_insecure_http: bool


def client_settings(model: ClientSettings) -> dict[str, Any]:
    """Constructor arguments of the clients for ``model``'s current settings."""
    settings: dict[str, Any] = {
        "api_key": model.api_key,
        "base_url": model.base_url,
        "max_retries": model.max_retries,
        # A copy: headers changed in place must count as a changed setting.
        "default_headers": dict(model.default_headers) if model.default_headers else None,
        "session_id": model.session_id,
        "provider": model.provider,
        "allow_insecure_http": model.allow_insecure_http,
    }
    if model.timeout is not None:
        settings["timeout"] = model.timeout
    return settings


class ClientCache:
    """One sync and one async client, built lazily from a model's settings."""

    __slots__ = (
        "__weakref__",
        "_async",
        "_async_settings",
        "_close_sync",
        "_lock",
        "_sync",
        "_sync_settings",
    )

    def __init__(self) -> None:
        self._sync: NugenClient | None = None
        self._sync_settings: Mapping[str, Any] | None = None
        self._close_sync: weakref.finalize[[], ClientCache] | None = None
        self._async: AsyncNugenClient | None = None
        self._async_settings: Mapping[str, Any] | None = None
        self._lock = threading.Lock()

    def sync_client(self, settings: dict[str, Any]) -> NugenClient:
        client = self._sync
        if client is not None and self._sync_settings == settings:
            return client
        with self._lock:
            if self._sync is not None and self._sync_settings == settings:
                return self._sync
            client = NugenClient(**settings)
            if self._close_sync is not None:
                self._close_sync()  # closes the replaced client's pool
            self._sync, self._sync_settings = client, dict(settings)
            # Close the pool with its model: a dropped model must not leave sockets open.
            self._close_sync = weakref.finalize(self, client.close)
        return client

    def async_client(self, settings: dict[str, Any]) -> AsyncNugenClient:
        client = self._async
        if client is not None and self._async_settings == settings:
            return client
        with self._lock:
            if self._async is None or self._async_settings != settings:
                # The async client keeps one pool per event loop, each closed by its loop's
                # shutdown (asyncio.run's last step): nothing to close here.
                self._async = AsyncNugenClient(**settings)
                self._async_settings = dict(settings)
            return self._async

    @property
    def built_sync_client(self) -> NugenClient | None:
        """The sync client if one was built (for tests and introspection)."""
        return self._sync

    def __reduce__(self) -> tuple[Any, ...]:
        return (ClientCache, ())

    def __copy__(self) -> ClientCache:
        return ClientCache()

    def __deepcopy__(self, memo: dict[int, Any]) -> ClientCache:
        return ClientCache()

    def __eq__(self, other: object) -> bool:
        # A cache, not state: two models with the same settings are equal whatever they
        # have built so far.
        return isinstance(other, ClientCache)

    __hash__ = None  # type: ignore[assignment]
