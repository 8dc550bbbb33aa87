"""``NugenEmbeddings``: LangChain embeddings over the Nugen ``/embeddings`` endpoint."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from langchain_core.embeddings import Embeddings
from pydantic import ConfigDict, Field, PrivateAttr

from langchain_nugen._errors import mapped_errors
from nugen_client.params import OnRetry
from nugen_shared.embeddings import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_MAX_CONCURRENCY,
    AdaptiveLimit,
    Progress,
    aembed_in_batches,
    embed_in_batches,
    progress_bar,
)
from nugen_shared.fields import ConnectionFields
from nugen_shared.models import DEFAULT_EMBEDDING_MODEL
from nugen_shared.requests import embeddings_request

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
    per request, up to ``max_concurrency`` requests in flight at once, from the sync
    methods too (a thread pool over the sync client, so they also work when called from
    inside a running event loop); the vectors come back in input order, one per text, or
    the call raises. ``dimensions`` asks the service for shorter vectors where the model
    supports it. Errors are the same dual ``nugen_client`` / ``langchain_core.exceptions``
    classes as ``ChatNugen``'s.

    Why these defaults (128 texts per request, 16 in flight): the service's cost of a
    request is a fixed part (about the cost of a hundred texts) plus a part per text, and
    it answers requests concurrently. Batches of 128 keep the fixed part to about half of
    each request while a corpus of a few thousand texts still splits into enough batches
    to run side by side; 16 in flight covers such a corpus in one or two rounds without
    a burst of hundreds of requests. ``benchmarks/NOTES.md`` has the measurements.

    Rate limits: a 429 halves the number of requests this object lets in flight (for every
    call sharing it), successes grow it back to ``max_concurrency``; the 429 itself is
    retried after the service's ``Retry-After`` (``max_retries`` times), so nothing is
    lost or reordered.

    Progress: ``show_progress_bar=True`` shows a tqdm bar (``pip install tqdm``).
    """

    model_config = ConfigDict(populate_by_name=True, extra="forbid", protected_namespaces=())

    model: str = Field(default=DEFAULT_EMBEDDING_MODEL, alias="model_name")
    """Embedding model name."""
    dimensions: int | None = Field(default=None, ge=1)
    """Length of the returned vectors, for models that can shorten them."""
    chunk_size: int = Field(default=DEFAULT_BATCH_SIZE, ge=1)
    """Texts per request."""
    max_concurrency: int = Field(default=DEFAULT_MAX_CONCURRENCY, ge=1)
    """Most requests in flight at once (sync and async); fewer after 429s."""
    show_progress_bar: bool = False
    """Show a tqdm progress bar over the texts (needs ``tqdm``)."""
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Extra body fields, sent as they are."""

    _limit: AdaptiveLimit = PrivateAttr(default_factory=AdaptiveLimit)

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
        """One vector per text, in order (batches are sent concurrently)."""
        if not texts:
            return []
        client = self._sync_client()

        def send(batch: list[str], on_retry: OnRetry) -> list[list[float]]:
            return client.embeddings(**self._request(batch), on_retry=on_retry).embeddings

        with mapped_errors(), self._progress(len(texts)) as progress:
            return embed_in_batches(send, texts, **self._batching(), progress=progress)

    def embed_query(self, text: str) -> list[float]:
        """The vector of one text."""
        return self.embed_documents([text])[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """One vector per text, in order (batches are sent concurrently)."""
        if not texts:
            return []
        client = self._async_client()

        async def send(batch: list[str], on_retry: OnRetry) -> list[list[float]]:
            response = await client.embeddings(**self._request(batch), on_retry=on_retry)
            return response.embeddings

        with mapped_errors(), self._progress(len(texts)) as progress:
            return await aembed_in_batches(send, texts, **self._batching(), progress=progress)

    async def aembed_query(self, text: str) -> list[float]:
        """The vector of one text."""
        return (await self.aembed_documents([text]))[0]

    def _batching(self) -> dict[str, Any]:
        return {
            "batch_size": self.chunk_size,
            "max_concurrency": self.max_concurrency,
            "limit": self._limit,
        }

    def _progress(self, total: int) -> AbstractContextManager[Progress | None]:
        # A single text (embed_query) never gets a bar.
        return progress_bar(self.show_progress_bar and total > 1, total, "Embedding")
