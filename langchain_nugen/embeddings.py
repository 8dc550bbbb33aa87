"""``NugenEmbeddings``: LangChain embeddings over the Nugen ``/embeddings`` endpoint."""

from __future__ import annotations

import asyncio
from typing import Any

from langchain_core.embeddings import Embeddings
from pydantic import ConfigDict, Field

from langchain_nugen._errors import mapped_errors
from nugen_client.models import DEFAULT_EMBEDDING_MODEL
from nugen_client.rules import ConnectionFields, embeddings_request

__all__ = ["NugenEmbeddings"]


class NugenEmbeddings(ConnectionFields, Embeddings):
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
    dimensions: int | None = Field(default=None, ge=1)
    """Length of the returned vectors, for models that can shorten them."""
    chunk_size: int = Field(default=64, ge=1)
    """Texts per request."""
    max_concurrency: int = Field(default=4, ge=1)
    """Requests in flight at once in the async methods (batches beyond wait their turn)."""
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Extra body fields, sent as they are."""

    def _batches(self, texts: list[str]) -> list[list[str]]:
        size = self.chunk_size
        return [texts[start : start + size] for start in range(0, len(texts), size)]

    def _request(self, batch: list[str]) -> dict[str, Any]:
        return embeddings_request(
            self.model,
            batch,
            dimensions=self.dimensions,
            session_id=self.session_id,
            provider=self.provider,
            extra_body=self.model_kwargs,
        )

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
