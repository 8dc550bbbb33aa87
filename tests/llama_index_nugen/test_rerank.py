"""NugenRerank against the emulator: ranked nodes, scores, events, errors, and its place
in a query engine."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Iterator
from typing import Any

import pytest
from llama_index.core import VectorStoreIndex
from llama_index.core.callbacks import CallbackManager, CBEventType, LlamaDebugHandler
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.instrumentation.events.rerank import ReRankEndEvent, ReRankStartEvent
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

import nugen_client
from llama_index_nugen import Nugen, NugenEmbedding, NugenRerank
from nugen_emulator import NugenEmulator

pytestmark = pytest.mark.emulator

QUERY = "What is the capital of France?"
TEXTS = [
    "Bananas are rich in potassium.",
    "Paris is the capital of France.",
    "France borders Spain and Italy.",
    "The capital of Italy is Rome.",
]
NODES = [
    NodeWithScore(node=TextNode(text=text, id_=f"n{i}"), score=0.5) for i, text in enumerate(TEXTS)
]


def make(emu: NugenEmulator, **kwargs: Any) -> NugenRerank:
    return NugenRerank(api_key=emu.api_key, base_url=emu.base_url, **kwargs)


def rerank(reranker: NugenRerank, nodes: list[NodeWithScore], *, is_async: bool) -> Any:
    bundle = QueryBundle(QUERY)
    if is_async:
        return asyncio.run(reranker.apostprocess_nodes(nodes, query_bundle=bundle))
    return reranker.postprocess_nodes(nodes, query_bundle=bundle)


class _Events(BaseEventHandler):
    seen: list[BaseEvent] = []

    @classmethod
    def class_name(cls) -> str:
        return "_RerankEvents"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        if isinstance(event, ReRankStartEvent | ReRankEndEvent):
            self.seen.append(event)


@pytest.fixture
def events() -> Iterator[_Events]:
    handler = _Events(seen=[])
    dispatcher = get_dispatcher()
    dispatcher.add_event_handler(handler)
    yield handler
    dispatcher.event_handlers.remove(handler)


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_nodes_come_back_ranked_and_scored_at_most_two(
    nugen_emulator: NugenEmulator, is_async: bool, events: _Events
) -> None:
    debug = LlamaDebugHandler()
    reranker = make(nugen_emulator, callback_manager=CallbackManager([debug]))
    before = copy.deepcopy(NODES)
    ranked = rerank(reranker, NODES, is_async=is_async)
    assert [n.node.node_id for n in ranked] == ["n1", "n3"]
    assert ranked[0].score is not None
    assert ranked[1].score is not None
    assert ranked[0].score > ranked[1].score > 0
    assert [n.score for n in NODES] == [n.score for n in before]  # not changed
    sent = nugen_emulator.last_request
    assert sent is not None
    assert sent.body == {
        "model": "bge-reranker-v2-m3",
        "query": QUERY,
        "documents": TEXTS,
        "top_n": 2,
    }
    start, end = events.seen
    assert isinstance(start, ReRankStartEvent)
    assert (start.top_n, start.model_name, start.nodes) == (2, "bge-reranker-v2-m3", NODES)
    assert isinstance(end, ReRankEndEvent)
    assert end.nodes == ranked
    pairs = debug.get_event_pairs(CBEventType.RERANKING)
    assert len(pairs) == 1
    assert pairs[0][1].payload is not None
    assert pairs[0][1].payload["nodes"] == ranked


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_no_nodes_no_request(nugen_emulator: NugenEmulator, is_async: bool) -> None:
    assert rerank(make(nugen_emulator), [], is_async=is_async) == []
    assert nugen_emulator.requests == []


def test_query_str_and_a_missing_query(nugen_emulator: NugenEmulator) -> None:
    reranker = make(nugen_emulator, top_n=1)
    assert [n.node.node_id for n in reranker.postprocess_nodes(NODES, query_str=QUERY)] == ["n1"]
    with pytest.raises(nugen_client.InvalidInputError, match="query"):
        reranker.postprocess_nodes(NODES)


def test_settings_and_headers_are_sent(nugen_emulator: NugenEmulator) -> None:
    reranker = make(
        nugen_emulator,
        model="my-reranker",
        top_n=3,
        method="standard",
        model_cross="bge-reranker-large",
        max_tokens_per_doc=64,
        session_id="s-1",
        provider="nugen-infer-align",
    )
    reranker.postprocess_nodes(NODES, query_str=QUERY)
    sent = nugen_emulator.last_request
    assert sent is not None
    assert sent.body == {
        "model": "my-reranker",
        "query": QUERY,
        "documents": TEXTS,
        "top_n": 3,
        "method": "standard",
        "model_cross": "bge-reranker-large",
        "max_tokens_per_doc": 64,
    }
    assert sent.headers["x-session-id"] == "s-1"
    assert sent.headers["x-provider"] == "nugen-infer-align"


def test_bad_settings_are_refused_before_any_request(nugen_emulator: NugenEmulator) -> None:
    with pytest.raises(ValueError, match="top_n"):
        make(nugen_emulator, top_n=0)
    with pytest.raises(ValueError, match="model_cross"):
        make(nugen_emulator, method="optimal").postprocess_nodes(NODES, query_str=QUERY)
    with pytest.raises(ValueError, match="query"):
        make(nugen_emulator).postprocess_nodes(NODES, query_str="")
    assert nugen_emulator.requests == []


def test_model_and_its_alias_model_name_are_not_both_taken() -> None:
    # One of two model names would otherwise be dropped in silence.
    assert NugenRerank(api_key="k" * 8, model_name="my-reranker").model == "my-reranker"
    with pytest.raises(nugen_client.InvalidInputError, match="not both"):
        NugenRerank(api_key="k" * 8, model="a", model_name="b")


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_402_is_payment_required(nugen_emulator: NugenEmulator, is_async: bool) -> None:
    nugen_emulator.inject(status=402)
    with pytest.raises(nugen_client.PaymentRequiredError, match="add credits"):
        rerank(make(nugen_emulator), NODES, is_async=is_async)


def test_the_llama_index_import_path() -> None:
    from llama_index.postprocessor.nugen_rerank import NugenRerank as Alias

    assert Alias is NugenRerank
    assert NugenRerank.class_name() == "NugenRerank"


def test_in_a_query_engine(nugen_emulator: NugenEmulator) -> None:
    connection = {"api_key": nugen_emulator.api_key, "base_url": nugen_emulator.base_url}
    index = VectorStoreIndex(
        [node.node for node in NODES], embed_model=NugenEmbedding(**connection)
    )
    engine = index.as_query_engine(
        llm=Nugen(**connection),
        similarity_top_k=4,
        node_postprocessors=[NugenRerank(**connection, top_n=1)],
    )
    response = engine.query(QUERY)
    assert [n.node.node_id for n in response.source_nodes] == ["n1"]
    chat = [r for r in nugen_emulator.requests if r.path.endswith("/chat/completions")]
    prompt = chat[-1].body["messages"][-1]["content"]
    assert TEXTS[1] in prompt
    assert TEXTS[3] not in prompt
    reranked = [r for r in nugen_emulator.requests if r.path.endswith("/reranker")]
    assert len(reranked[0].body["documents"]) == 4
