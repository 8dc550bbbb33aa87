"""``NugenEmbedding``: Nugen embedding models as a LlamaIndex ``BaseEmbedding``."""

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import llama_index.core.instrumentation as instrument
from llama_index.core.base.embeddings.base import BaseEmbedding, Embedding
from llama_index.core.callbacks.schema import CBEventType, EventPayload
from llama_index.core.instrumentation.events.embedding import EmbeddingEndEvent, EmbeddingStartEvent
from pydantic import AliasChoices, Field

from llama_index_nugen._fields import KnownKeywords
from nugen_client.params import OnRetry, check_texts_to_embed
from nugen_client.types import EmbeddingResponse
from nugen_shared import embeddings as batching
from nugen_shared.models import DEFAULT_EMBEDDING_MODEL

__all__ = ["NugenEmbedding"]

# llama-index-core re-exports get_dispatcher without __all__ (what its own modules call).
dispatcher = instrument.get_dispatcher(__name__)  # type: ignore[attr-defined]


class NugenEmbedding(KnownKeywords, batching.EmbeddingModelFields, BaseEmbedding):
    """Nugen embeddings as a LlamaIndex `BaseEmbedding` (default `nugen-flash-embed`).

    Batched and concurrent like LangChain's `NugenEmbeddings` (the same shared code):
    vectors in input order, one per text, or the call raises; a 429 halves the requests
    in flight and is retried after `Retry-After`.

    Args:
        model: LlamaIndex's `model_name` (alias `model`).
        dimensions: Shorter vectors, for models that support it.
        embed_batch_size: Texts per request (128).
        max_concurrency: Most requests in flight at once, sync and async (16); LlamaIndex's
            `num_workers`, when set, lowers it.
        additional_kwargs: Extra body fields sent with every request, unvalidated.
        api_key, base_url, session_id, provider, timeout, max_retries, default_headers,
            deadline, max_response_bytes, max_event_bytes, allow_insecure_http: the
            connection, as in `Nugen`.

    Examples:
        ```python
        from llama_index.core import Document, Settings, VectorStoreIndex
        from llama_index.embeddings.nugen import NugenEmbedding

        Settings.embed_model = NugenEmbedding()
        index = VectorStoreIndex.from_documents([Document(text="Nugen serves models.")])
        vector = Settings.embed_model.get_query_embedding("What does Nugen serve?")
        ```

        `get_text_embedding_batch` and `aget_text_embedding_batch` (what indexes and
        `IngestionPipeline` call) emit LlamaIndex's embedding events per batch;
        `show_progress=True` shows a bar. With an `embeddings_cache` or a `rate_limiter`
        set, LlamaIndex's own loop runs instead.
    """

    model_name: str = Field(
        default=DEFAULT_EMBEDDING_MODEL,
        # alias: what type checkers and help() show, the contract's name.
        alias="model",
        validation_alias=AliasChoices("model_name", "model"),
        description="The embedding model (also accepted as model=).",
    )
    additional_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="Extra body fields sent with every request."
    )
    embed_batch_size: int = Field(
        default=batching.DEFAULT_BATCH_SIZE, gt=0, le=2048, description="Texts per request."
    )
    max_concurrency: int = Field(
        default=batching.DEFAULT_MAX_CONCURRENCY,
        ge=1,
        description="Most requests in flight at once (sync and async); fewer after 429s.",
    )

    @classmethod
    def class_name(cls) -> str:
        return "NugenEmbedding"

    @property
    def model(self) -> str:
        """The embedding model (the contract's name for ``model_name``)."""
        return self.model_name

    def _request(self, texts: list[str]) -> dict[str, Any]:
        return self._embeddings_request(self.model_name, texts, self.additional_kwargs)

    @dispatcher.span
    def get_text_embedding_batch(
        self, texts: list[str], show_progress: bool = False, **kwargs: Any
    ) -> list[Embedding]:
        """One vector per text, in order, ``embed_batch_size`` texts per request and up to
        ``max_concurrency`` requests in flight."""
        if self.embeddings_cache is not None or self.rate_limiter is not None or not texts:
            check_texts_to_embed(texts)  # LlamaIndex's loop sends batch by batch: all first
            return super().get_text_embedding_batch(texts, show_progress, **kwargs)
        client = self._sync_client()

        def send(batch: list[str], on_retry: OnRetry) -> list[Embedding]:
            with self._batch_events(batch) as done:
                return done(client.embeddings(**self._request(batch), on_retry=on_retry))

        with batching.progress_bar(show_progress, len(texts), "Generating embeddings") as progress:
            return batching.embed_in_batches(send, texts, **self._batching(), progress=progress)

    @dispatcher.span
    async def aget_text_embedding_batch(
        self, texts: list[str], show_progress: bool = False, **kwargs: Any
    ) -> list[Embedding]:
        """The async form of :meth:`get_text_embedding_batch`."""
        if self.embeddings_cache is not None or self.rate_limiter is not None or not texts:
            check_texts_to_embed(texts)
            return await super().aget_text_embedding_batch(texts, show_progress, **kwargs)
        client = self._async_client()

        async def send(batch: list[str], on_retry: OnRetry) -> list[Embedding]:
            with self._batch_events(batch) as done:
                return done(await client.embeddings(**self._request(batch), on_retry=on_retry))

        with batching.progress_bar(show_progress, len(texts), "Generating embeddings") as progress:
            return await batching.aembed_in_batches(
                send, texts, **self._batching(), progress=progress
            )

    def _batching(self) -> dict[str, Any]:
        # LlamaIndex's own bound on concurrent batches, when set, lowers ours.
        workers = self.num_workers if self.num_workers and self.num_workers > 0 else None
        return {
            "batch_size": self.embed_batch_size,
            "max_concurrency": min(self.max_concurrency, workers or self.max_concurrency),
            "limit": self._limit,
        }

    @contextlib.contextmanager
    def _batch_events(
        self, batch: list[str]
    ) -> Iterator[Callable[[EmbeddingResponse], list[Embedding]]]:
        """LlamaIndex's start and end events (instrumentation and callbacks) around one
        batch, as its own loop emits them; ``done(response)`` ends them with the vectors."""
        model_dict = self.to_payload()
        dispatcher.event(EmbeddingStartEvent(model_dict=model_dict))
        with self.callback_manager.event(
            CBEventType.EMBEDDING, payload={EventPayload.SERIALIZED: model_dict}
        ) as event:

            def done(response: EmbeddingResponse) -> list[Embedding]:
                vectors = response.embeddings
                event.on_end(payload={EventPayload.CHUNKS: batch, EventPayload.EMBEDDINGS: vectors})
                dispatcher.event(EmbeddingEndEvent(chunks=batch, embeddings=vectors))
                return vectors

            yield done

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return self._sync_client().embeddings(**self._request(texts)).embeddings

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return (await self._async_client().embeddings(**self._request(texts))).embeddings

    def _get_text_embedding(self, text: str) -> Embedding:
        return self._get_text_embeddings([text])[0]

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return (await self._aget_text_embeddings([text]))[0]

    def _get_query_embedding(self, query: str) -> Embedding:
        return self._get_text_embeddings([query])[0]

    async def _aget_query_embedding(self, query: str) -> Embedding:
        return (await self._aget_text_embeddings([query]))[0]
