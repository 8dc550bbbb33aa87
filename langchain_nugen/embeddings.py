"""``NugenEmbeddings``: LangChain embeddings over the Nugen ``/embeddings`` endpoint."""

from contextlib import AbstractContextManager
from typing import Any, ClassVar

from langchain_core.embeddings import Embeddings
from pydantic import AliasChoices, ConfigDict, Field

from langchain_nugen._errors import mapped_errors
from nugen_client.params import OnRetry
from nugen_shared import embeddings as batching
from nugen_shared.models import DEFAULT_EMBEDDING_MODEL

__all__ = ["NugenEmbeddings"]


class NugenEmbeddings(batching.EmbeddingModelFields, Embeddings):
    """Nugen embedding models (`nugen-flash-embed`, `nugen-embed-legal`, ...) as LangChain
    `Embeddings`.

    Texts are sent as they are (no tokenizer, nothing downloaded), `chunk_size` texts per
    request, up to `max_concurrency` requests of a call in flight, from the sync methods too (a
    thread pool over the sync client, so they work inside a running event loop); the
    vectors come back in input order, one per text, or the call raises. A 429 halves the
    requests this object lets in flight (successes grow it back) and is retried after
    `Retry-After`. Errors are the same dual classes as `ChatNugen`'s.

    ??? info "Key init args"

        `model` (default `nugen-flash-embed`), `dimensions` (shorter vectors, for models
        that support it), `chunk_size` (texts per request, 128), `max_concurrency` (16),
        `show_progress_bar` (a tqdm bar), `model_kwargs` (extra body fields). The
        connection: `api_key` (env `NUGEN_API_KEY`), `base_url` (env `NUGEN_BASE_URL`),
        `timeout`, `max_retries`, `default_headers`, `session_id`, `provider`, `deadline`,
        `max_response_bytes`, `max_event_bytes`, `allow_insecure_http`, as for `ChatNugen`.
        Why these defaults: docs/embeddings-and-reranking.md.

    ??? info "Instantiate and embed"

        ```python
        from langchain_nugen import NugenEmbeddings

        embeddings = NugenEmbeddings(model="nugen-flash-embed")
        vector = embeddings.embed_query("What is a tort?")
        vectors = embeddings.embed_documents(["first text", "second text"])
        ```

        Async: `aembed_query`, `aembed_documents`.
    """

    model_config: ClassVar[ConfigDict] = ConfigDict(extra="forbid", protected_namespaces=())

    # validation_alias, not alias: type checkers and help() show only an alias=.
    model: str = Field(
        default=DEFAULT_EMBEDDING_MODEL, validation_alias=AliasChoices("model", "model_name")
    )
    """Embedding model name."""
    chunk_size: int = Field(default=batching.DEFAULT_BATCH_SIZE, ge=1)
    """Texts per request."""
    max_concurrency: int = Field(default=batching.DEFAULT_MAX_CONCURRENCY, ge=1)
    """Most requests in flight at once (sync and async); fewer after 429s."""
    show_progress_bar: bool = False
    """Show a tqdm progress bar over the texts (needs ``tqdm``)."""
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Extra body fields, sent as they are."""

    def _request(self, batch: list[str], kwargs: dict[str, Any]) -> dict[str, Any]:
        return self._embeddings_request(self.model, batch, self.model_kwargs, kwargs)

    def embed_documents(
        self, texts: list[str], chunk_size: int | None = None, **kwargs: Any
    ) -> list[list[float]]:
        """One vector per text, in order (batches are sent concurrently); ``chunk_size``
        texts per request for this call, as ``OpenAIEmbeddings`` takes it, and other keywords
        for this call as ``ChatNugen`` takes them (``dimensions``, ``model``, ``session_id``,
        ``timeout``, ``extra_headers``; unknown names are sent as body fields)."""
        if not texts and not isinstance(texts, str):  # a str (even "") is refused
            return []

        def send(batch: list[str], on_retry: OnRetry) -> list[list[float]]:
            return client.embeddings(**self._request(batch, kwargs), on_retry=on_retry).embeddings

        with mapped_errors(), self._progress(len(texts)) as progress:
            client = self._sync_client()
            batches = self._batching(chunk_size)
            return batching.embed_in_batches(send, texts, **batches, progress=progress)

    def embed_query(self, text: str, **kwargs: Any) -> list[float]:
        """The vector of one text (``kwargs``: :meth:`embed_documents`'s)."""
        return self.embed_documents([text], **kwargs)[0]

    async def aembed_documents(
        self, texts: list[str], chunk_size: int | None = None, **kwargs: Any
    ) -> list[list[float]]:
        """:meth:`embed_documents`, async."""
        if not texts and not isinstance(texts, str):  # a str (even "") is refused
            return []

        async def send(batch: list[str], on_retry: OnRetry) -> list[list[float]]:
            response = await client.embeddings(**self._request(batch, kwargs), on_retry=on_retry)
            return response.embeddings

        with mapped_errors(), self._progress(len(texts)) as progress:
            client = self._async_client()
            return await batching.aembed_in_batches(
                send, texts, **self._batching(chunk_size), progress=progress
            )

    async def aembed_query(self, text: str, **kwargs: Any) -> list[float]:
        """The vector of one text (``kwargs``: :meth:`embed_documents`'s)."""
        return (await self.aembed_documents([text], **kwargs))[0]

    def _batching(self, chunk_size: int | None) -> dict[str, Any]:
        return {
            "batch_size": self.chunk_size if chunk_size is None else chunk_size,
            "max_concurrency": self.max_concurrency,
            "limit": self._limit,
        }

    def _progress(self, total: int) -> AbstractContextManager[batching.Progress | None]:
        # A single text (embed_query) never gets a bar.
        return batching.progress_bar(self.show_progress_bar and total > 1, total, "Embedding")
