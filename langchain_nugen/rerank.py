"""``NugenRerank``: LangChain document compressor over the Nugen ``/reranker`` endpoint."""

from collections.abc import Sequence
from typing import Any, ClassVar

from langchain_core.callbacks import Callbacks
from langchain_core.documents import BaseDocumentCompressor, Document
from pydantic import ConfigDict, Field

from langchain_nugen._errors import mapped_errors
from nugen_client import InvalidInputError
from nugen_client.types import RerankResponse
from nugen_shared.fields import RerankFields

__all__ = ["NugenRerank"]


class NugenRerank(RerankFields, BaseDocumentCompressor):
    """Nugen reranking models (`bge-reranker-v2-m3`, your aligned rerankers) as a LangChain
    `BaseDocumentCompressor` over the service's `/reranker`.

    The documents come back most relevant first, at most `top_n`, each a copy with
    `metadata["relevance_score"]`; the ones passed in are not changed. Errors are the same
    dual classes as `ChatNugen`'s; bad settings (an unknown method, `standard` without
    `model_cross`, an empty query) are `ValueError`s raised before any request.

    ??? info "Key init args"

        `model` (default `bge-reranker-v2-m3`), `top_n` (3; `None`: all, scored),
        `method` (`fast`, `standard`, `optimal`, `best`), `model_cross` (the
        cross-encoder `standard` and `optimal` need), `stage1_top_k`,
        `max_tokens_per_doc`, `batch_size`. The connection: `api_key` (env
        `NUGEN_API_KEY`), `base_url` (env `NUGEN_BASE_URL`), `timeout`, `max_retries`,
        `default_headers`, `session_id`, `provider`, `deadline`, `max_response_bytes`,
        `max_event_bytes`, `allow_insecure_http`, as for `ChatNugen`.

    ??? info "Instantiate and compress"

        ```python
        from langchain_classic.retrievers import ContextualCompressionRetriever
        from langchain_nugen import NugenRerank

        reranker = NugenRerank(top_n=2)
        best = reranker.compress_documents(documents, "What is a tort?")
        retriever = ContextualCompressionRetriever(
            base_compressor=reranker, base_retriever=vector_store.as_retriever()
        )
        ```

        `acompress_documents` is the async form; `rerank(documents, query, top_n=None)`
        (and `arerank`) returns `[{"index": ..., "relevance_score": ...}]` only.
    """

    model_config: ClassVar[ConfigDict] = ConfigDict(extra="forbid", protected_namespaces=())

    top_n: int | None = Field(default=3, ge=1)
    """Most documents returned (None: all of them, scored)."""

    def rerank(
        self, documents: Sequence[str | Document], query: str, top_n: int | None = None
    ) -> list[dict[str, Any]]:
        """``[{"index", "relevance_score"}]`` of ``documents``, most relevant first."""
        if not documents and not isinstance(documents, str):  # a str (even "") is refused
            return []
        with mapped_errors():
            return _scores(self._sync_client().rerank(**self._request(documents, query, top_n)))

    async def arerank(
        self, documents: Sequence[str | Document], query: str, top_n: int | None = None
    ) -> list[dict[str, Any]]:
        """The async form of :meth:`rerank`."""
        if not documents and not isinstance(documents, str):  # a str (even "") is refused
            return []
        with mapped_errors():
            request = self._request(documents, query, top_n)
            return _scores(await self._async_client().rerank(**request))

    def compress_documents(
        self, documents: Sequence[Document], query: str, callbacks: Callbacks | None = None
    ) -> Sequence[Document]:
        """The most relevant ``top_n`` documents, each a copy with its relevance score."""
        return _ranked(documents, self.rerank(documents, query))

    async def acompress_documents(
        self, documents: Sequence[Document], query: str, callbacks: Callbacks | None = None
    ) -> Sequence[Document]:
        """The async form of :meth:`compress_documents`."""
        return _ranked(documents, await self.arerank(documents, query))

    def _request(
        self, documents: Sequence[str | Document], query: str, top_n: int | None
    ) -> dict[str, Any]:
        if isinstance(documents, str):
            raise InvalidInputError(
                "documents must be a list of Documents or strings, not one str: pass [text]"
            )
        texts = [_text(document, position) for position, document in enumerate(documents)]
        return self._rerank_request(query, texts, self.top_n if top_n is None else top_n)


def _text(document: str | Document, position: int) -> str:
    if isinstance(document, str):
        return document
    if isinstance(document, Document):
        return document.page_content
    kind = "None" if document is None else f"a {type(document).__name__}"
    raise InvalidInputError(f"documents[{position}] is {kind}, not a Document or a string")


def _scores(response: RerankResponse) -> list[dict[str, Any]]:
    return [{"index": r.index, "relevance_score": r.relevance_score} for r in response.results]


def _ranked(documents: Sequence[Document], scores: list[dict[str, Any]]) -> list[Document]:
    ranked = []
    for score in scores:
        document = documents[score["index"]]
        metadata = {**document.metadata, "relevance_score": score["relevance_score"]}
        ranked.append(document.model_copy(update={"metadata": metadata}))
    return ranked
