"""``NugenRerank``: Nugen reranking models as a LlamaIndex node postprocessor."""

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import llama_index.core.instrumentation as instrument
from llama_index.core.callbacks.schema import CBEventType, EventPayload
from llama_index.core.instrumentation.events.rerank import ReRankEndEvent, ReRankStartEvent
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle
from pydantic import Field

from llama_index_nugen._fields import KnownKeywords
from nugen_client import InvalidInputError
from nugen_client.types import RerankResponse
from nugen_shared.fields import RerankFields

__all__ = ["NugenRerank"]

# llama-index-core re-exports get_dispatcher without __all__ (what its own modules call).
dispatcher = instrument.get_dispatcher(__name__)  # type: ignore[attr-defined]


class NugenRerank(KnownKeywords, RerankFields, BaseNodePostprocessor):
    """Nugen reranking models (`bge-reranker-v2-m3`, your aligned rerankers) as a LlamaIndex
    `BaseNodePostprocessor` over the service's `/reranker`.

    `postprocess_nodes(nodes, query_bundle=...)` and `apostprocess_nodes` return new
    `NodeWithScore`s, most relevant first, at most `top_n`, each `score` the service's
    relevance score, and emit LlamaIndex's rerank events. Bad settings are `ValueError`s
    raised before any request.

    Args:
        model: Default `bge-reranker-v2-m3`, or an aligned model id.
        top_n: Most nodes returned (2).
        method, model_cross, stage1_top_k, max_tokens_per_doc, batch_size: as for
            LangChain's `NugenRerank`.
        api_key, base_url, session_id, provider, timeout, max_retries, default_headers,
            deadline, max_response_bytes, max_event_bytes, allow_insecure_http: the
            connection, as in `Nugen`.

    Examples:
        ```python
        from llama_index.postprocessor.nugen_rerank import NugenRerank

        engine = index.as_query_engine(
            similarity_top_k=10, node_postprocessors=[NugenRerank(top_n=3)]
        )
        ```
    """

    top_n: int = Field(default=2, ge=1, description="Most nodes returned.")

    @classmethod
    def class_name(cls) -> str:
        return "NugenRerank"

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        with self._reranking(nodes, query_bundle) as (request, done):
            return done(self._sync_client().rerank(**request)) if request else []

    async def _apostprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        with self._reranking(nodes, query_bundle) as (request, done):
            return done(await self._async_client().rerank(**request)) if request else []

    @contextlib.contextmanager
    def _reranking(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None
    ) -> Iterator[tuple[dict[str, Any] | None, Callable[[RerankResponse], list[NodeWithScore]]]]:
        """The request (None: no nodes, nothing to send) inside LlamaIndex's rerank events,
        as its own rerankers emit them; ``done(response)`` ends them with the ranked nodes."""
        if query_bundle is None:
            raise InvalidInputError("NugenRerank needs the query: pass query_bundle= or query_str=")
        dispatcher.event(
            ReRankStartEvent(
                query=query_bundle, nodes=nodes, top_n=self.top_n, model_name=self.model
            )
        )
        ranked: list[NodeWithScore] = []
        if not nodes:
            yield None, lambda response: ranked
        else:
            texts = [n.node.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes]
            request = self._rerank_request(query_bundle.query_str, texts, self.top_n)
            payload: dict[str, Any] = {
                EventPayload.NODES: nodes,
                EventPayload.MODEL_NAME: self.model,
                EventPayload.QUERY_STR: query_bundle.query_str,
                EventPayload.TOP_K: self.top_n,
            }
            with self.callback_manager.event(CBEventType.RERANKING, payload=payload) as event:

                def done(response: RerankResponse) -> list[NodeWithScore]:
                    ranked.extend(
                        NodeWithScore(node=nodes[r.index].node, score=r.relevance_score)
                        for r in response.results
                    )
                    event.on_end(payload={EventPayload.NODES: ranked})
                    return ranked

                yield request, done
        dispatcher.event(ReRankEndEvent(nodes=ranked))
