"""``NugenEmbeddings``: LangChain embeddings over the Nugen ``/embeddings`` endpoint."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from langchain_core.embeddings import Embeddings
from langchain_core.utils import from_env, secret_from_env
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr

from langchain_nugen._errors import mapped_errors
from nugen_client import AsyncNugenClient, NugenClient
from nugen_client.models import DEFAULT_EMBEDDING_MODEL

__all__ = ["NugenEmbeddings"]


class _Clients:
    """Lazily built clients; copies and unpickled objects start without any."""

    __slots__ = ("async_client", "config", "lock", "sync_client")

    def __init__(self) -> None:
        self.config: tuple[Any, ...] | None = None
        self.sync_client: NugenClient | None = None
        self.async_client: AsyncNugenClient | None = None
        self.lock = threading.Lock()

    def __reduce__(self) -> tuple[Any, ...]:
        return (_Clients, ())

    def __copy__(self) -> _Clients:
        return _Clients()

    def __deepcopy__(self, memo: dict[int, Any]) -> _Clients:
        return _Clients()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Clients)  # a cache, not state

    __hash__ = None  # type: ignore[assignment]


class NugenEmbeddings(BaseModel, Embeddings):
    """Nugen embedding models (``nugen-flash-embed``, ``nugen-embed-legal``, ...).

    Setup:
        ``pip install "nugen-integrations[langchain]"`` and set ``NUGEN_API_KEY``.

    Instantiate:
        ```python
        from langchain_nugen import NugenEmbeddings

        embeddings = NugenEmbeddings(model="nugen-flash-embed")
        ```

    Embed:
        ```python
        vector = embeddings.embed_query("What is a tort?")
        vectors = embeddings.embed_documents(["first text", "second text"])
        vectors = await embeddings.aembed_documents(["first text", "second text"])
        ```

    Texts are sent as they are (no tokenizer, nothing downloaded), ``chunk_size`` texts
    per request; the vectors come back in input order. ``dimensions`` asks the service
    for shorter vectors where the model supports it. Errors are the same dual
    ``nugen_client`` / ``langchain_core.exceptions`` classes as ``ChatNugen``'s.
    """

    model_config = ConfigDict(populate_by_name=True, extra="forbid", protected_namespaces=())

    model: str = Field(default=DEFAULT_EMBEDDING_MODEL, alias="model_name")
    """Embedding model name."""
    api_key: SecretStr | None = Field(
        default_factory=secret_from_env("NUGEN_API_KEY", default=None)
    )
    """API key; defaults to the ``NUGEN_API_KEY`` environment variable."""
    base_url: str | None = Field(default_factory=from_env("NUGEN_BASE_URL", default=None))
    """Base URL of the API; defaults to ``NUGEN_BASE_URL``, then the Nugen service."""
    dimensions: int | None = Field(default=None, ge=1)
    """Length of the returned vectors, for models that can shorten them."""
    chunk_size: int = Field(default=64, ge=1)
    """Texts per request."""
    max_concurrency: int = Field(default=4, ge=1)
    """Requests in flight at once in the async methods (batches beyond wait their turn)."""
    timeout: float | None = Field(default=None, gt=0, alias="request_timeout")
    """Seconds per request; the client's default (120) when unset."""
    max_retries: int = Field(default=2, ge=0)
    """Retries of transient failures."""
    default_headers: dict[str, str] | None = None
    """Headers sent with every request."""
    session_id: str | None = None
    """Sent as ``X-Session-ID``."""
    provider: str | None = None
    """Sent as ``X-Provider``."""
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Extra body fields, sent as they are."""

    _clients: _Clients = PrivateAttr(default_factory=_Clients)

    def _config(self) -> tuple[Any, ...]:
        return (
            self.api_key,
            self.base_url,
            self.timeout,
            self.max_retries,
            self.default_headers,
            self.session_id,
            self.provider,
        )

    def _client_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "api_key": self.api_key,
            "base_url": self.base_url,
            "max_retries": self.max_retries,
            "default_headers": self.default_headers,
            "session_id": self.session_id,
            "provider": self.provider,
        }
        if self.timeout is not None:
            kwargs["timeout"] = self.timeout
        return kwargs

    def _current(self) -> _Clients:
        clients = self._clients
        config = self._config()
        if clients.config != config:
            with clients.lock:
                old = clients.sync_client
                clients.sync_client = clients.async_client = None
                clients.config = config
            if old is not None:
                old.close()
        return clients

    def _sync_client(self) -> NugenClient:
        clients = self._current()
        if clients.sync_client is None:
            with clients.lock:
                if clients.sync_client is None:
                    clients.sync_client = NugenClient(**self._client_kwargs())
        return clients.sync_client

    def _async_client(self) -> AsyncNugenClient:
        clients = self._current()
        if clients.async_client is None:
            with clients.lock:
                if clients.async_client is None:
                    clients.async_client = AsyncNugenClient(**self._client_kwargs())
        return clients.async_client

    def _batches(self, texts: list[str]) -> list[list[str]]:
        size = self.chunk_size
        return [texts[start : start + size] for start in range(0, len(texts), size)]

    def _request(self, batch: list[str]) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": self.model,
            "input": batch,
            "dimensions": self.dimensions,
        }
        if self.model_kwargs:
            request["extra_body"] = self.model_kwargs
        return request

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """One vector per text, in order."""
        if not texts:
            return []
        client = self._sync_client()
        vectors: list[list[float]] = []
        with mapped_errors():
            for batch in self._batches(texts):
                vectors.extend(client.embeddings(**self._request(batch)).embeddings)
        return vectors

    def embed_query(self, text: str) -> list[float]:
        """The vector of one text."""
        return self.embed_documents([text])[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """One vector per text, in order (batches are sent concurrently)."""
        if not texts:
            return []
        client = self._async_client()
        # A bounded number of requests at once: a large corpus must not turn into a burst
        # of hundreds of simultaneous requests (and the 429s that follow).
        limit = asyncio.Semaphore(self.max_concurrency)

        async def embed(batch: list[str]) -> list[list[float]]:
            async with limit:
                return (await client.embeddings(**self._request(batch))).embeddings

        with mapped_errors():
            results = await asyncio.gather(*(embed(batch) for batch in self._batches(texts)))
        return [vector for vectors in results for vector in vectors]

    async def aembed_query(self, text: str) -> list[float]:
        """The vector of one text."""
        return (await self.aembed_documents([text]))[0]
