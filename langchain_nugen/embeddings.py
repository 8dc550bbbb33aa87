"""``NugenEmbeddings``: LangChain embeddings over the Nugen ``/embeddings`` endpoint."""

from __future__ import annotations

import asyncio
from typing import Any

from langchain_core.embeddings import Embeddings
from langchain_core.utils import from_env, secret_from_env
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr
from typing_extensions import Self

from langchain_nugen._clients import ClientCache, client_settings
from langchain_nugen._errors import mapped_errors
from nugen_client import AsyncNugenClient, NugenClient
from nugen_client._pickling import PicklesWithoutKey
from nugen_client.models import DEFAULT_EMBEDDING_MODEL

__all__ = ["NugenEmbeddings"]


class NugenEmbeddings(PicklesWithoutKey, BaseModel, Embeddings):
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
    default_headers: dict[str, str] | None = Field(default=None, repr=False)
    """Headers sent with every request (kept out of ``repr``: they may hold credentials)."""
    session_id: str | None = None
    """Sent as ``X-Session-ID``."""
    provider: str | None = None
    """Sent as ``X-Provider``."""
    allow_insecure_http: bool = False
    """Allow a plain ``http://`` ``base_url`` on another machine (the key would cross the
    network unencrypted); refused by default. Loopback addresses never need it."""
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Extra body fields, sent as they are."""

    _clients: ClientCache = PrivateAttr(default_factory=ClientCache)

    def __copy__(self) -> Self:
        # A shallow copy (``model_copy``) gets clients of its own, as in ChatNugen.
        clone = super().__copy__()
        clone._clients = ClientCache()
        return clone

    def _sync_client(self) -> NugenClient:
        return self._clients.sync_client(client_settings(self))

    def _async_client(self) -> AsyncNugenClient:
        return self._clients.async_client(client_settings(self))

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
