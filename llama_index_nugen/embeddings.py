"""``NugenEmbedding``: Nugen embedding models as a LlamaIndex ``BaseEmbedding``."""

from __future__ import annotations

from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding, Embedding
from pydantic import AliasChoices, Field

from nugen_client.models import DEFAULT_EMBEDDING_MODEL
from nugen_client.rules import ConnectionFields, embeddings_request

__all__ = ["NugenEmbedding"]


class NugenEmbedding(ConnectionFields, BaseEmbedding):
    """Nugen embeddings (``nugen-flash-embed``, ``nugen-embed-legal``) for indexes and retrievers.

    Setup:
        ``pip install "nugen-integrations[llama-index]"`` and set ``NUGEN_API_KEY``.

    Key init args:
        model (alias of LlamaIndex's ``model_name``; default ``nugen-flash-embed``),
        dimensions (optional), embed_batch_size (texts per request, default 10),
        api_key, base_url, timeout, max_retries, default_headers, session_id, provider,
        additional_kwargs (extra body fields).

    Use:
        .. code-block:: python

            from llama_index.core import Settings, VectorStoreIndex
            from llama_index.embeddings.nugen import NugenEmbedding

            Settings.embed_model = NugenEmbedding()
            index = VectorStoreIndex.from_documents(documents)

        ``get_query_embedding`` / ``get_text_embedding_batch`` and their async forms;
        vectors come back in input order.
    """

    model_name: str = Field(
        default=DEFAULT_EMBEDDING_MODEL,
        validation_alias=AliasChoices("model_name", "model"),
        description="The embedding model (also accepted as model=).",
    )
    dimensions: int | None = Field(
        default=None, ge=1, description="Size of the vectors, for models that support it."
    )
    additional_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="Extra body fields sent with every request."
    )

    @classmethod
    def class_name(cls) -> str:
        return "NugenEmbedding"

    @property
    def model(self) -> str:
        """The embedding model (the contract's name for ``model_name``)."""
        return self.model_name

    def _request(self, texts: list[str]) -> dict[str, Any]:
        return embeddings_request(
            self.model_name,
            texts,
            dimensions=self.dimensions,
            session_id=self.session_id,
            provider=self.provider,
            extra_body=self.additional_kwargs,
        )

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return self._sync_client().embeddings(**self._request(texts)).embeddings

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        response = await self._async_client().embeddings(**self._request(texts))
        return response.embeddings

    def _get_query_embedding(self, query: str) -> Embedding:
        return self._get_text_embeddings([query])[0]

    async def _aget_query_embedding(self, query: str) -> Embedding:
        return (await self._aget_text_embeddings([query]))[0]

    def _get_text_embedding(self, text: str) -> Embedding:
        return self._get_text_embeddings([text])[0]

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return (await self._aget_text_embeddings([text]))[0]
