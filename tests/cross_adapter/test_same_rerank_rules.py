"""One rerank rule: the same settings through LangChain's and LlamaIndex's ``NugenRerank``
put the same request on the wire.

Each case runs four times against the emulator (LangChain ``compress_documents`` and
``acompress_documents``, LlamaIndex ``postprocess_nodes`` and ``apostprocess_nodes``).
The four recorded requests must have the same JSON body and the same Nugen headers, and
the body must be what the case expects (so an agreement on a wrong request fails too).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest
from langchain_core.documents import Document
from llama_index.core.schema import NodeWithScore, TextNode

from langchain_nugen import NugenRerank as LangChainRerank
from llama_index_nugen import NugenRerank as LlamaIndexRerank
from nugen_emulator import NugenEmulator, RecordedRequest

pytestmark = pytest.mark.emulator

NUGEN_HEADERS = ("x-session-id", "x-provider", "x-custom")
QUERY = "Which city is the capital of France?"
TEXTS = ["Paris is the capital of France.", "Rome is in Italy.", "France is in Europe."]
BASE_BODY = {"model": "bge-reranker-v2-m3", "query": QUERY, "documents": TEXTS}


@dataclass(frozen=True)
class Case:
    id: str
    init: dict[str, Any] = field(default_factory=dict)
    """Constructor arguments, the same names in both frameworks (``top_n`` always set:
    the frameworks' defaults differ on purpose)."""
    expect: dict[str, Any] = field(default_factory=dict)
    """The body beyond model, query and documents."""
    expect_headers: dict[str, str | None] = field(default_factory=dict)


CASES = [
    Case("top_n", init={"top_n": 2}, expect={"top_n": 2}),
    Case("top_n above the documents", init={"top_n": 9}, expect={"top_n": 3}),
    Case(
        "every field",
        init={
            "top_n": 1,
            "model": "my-reranker",
            "method": "optimal",
            "model_cross": "bge-reranker-large",
            "stage1_top_k": 20,
            "max_tokens_per_doc": 128,
            "batch_size": 4,
        },
        expect={
            "top_n": 1,
            "model": "my-reranker",
            "method": "optimal",
            "model_cross": "bge-reranker-large",
            "stage1_top_k": 20,
            "max_tokens_per_doc": 128,
            "batch_size": 4,
        },
    ),
    Case("None fields are not sent", init={"top_n": 2, "method": None}, expect={"top_n": 2}),
    # The name the other classes of both frameworks accept for model.
    Case(
        "model_name",
        init={"top_n": 2, "model_name": "my-reranker"},
        expect={"top_n": 2, "model": "my-reranker"},
    ),
    Case(
        "headers",
        init={
            "top_n": 2,
            "session_id": "s-1",
            "provider": "nugen-infer-align",
            "default_headers": {"X-Custom": "c"},
        },
        expect={"top_n": 2},
        expect_headers={"x-session-id": "s-1", "x-provider": "nugen-infer-align", "x-custom": "c"},
    ),
    Case(
        "no headers unless set",
        init={"top_n": 2},
        expect={"top_n": 2},
        expect_headers={"x-session-id": None, "x-provider": None},
    ),
]


def _langchain(emu: NugenEmulator, init: dict[str, Any], is_async: bool) -> list[str]:
    reranker = LangChainRerank(api_key=emu.api_key, base_url=emu.base_url, **init)
    documents = [Document(page_content=text) for text in TEXTS]
    if is_async:
        ranked = asyncio.run(reranker.acompress_documents(documents, QUERY))
    else:
        ranked = reranker.compress_documents(documents, QUERY)
    return [d.page_content for d in ranked]


def _llama_index(emu: NugenEmulator, init: dict[str, Any], is_async: bool) -> list[str]:
    reranker = LlamaIndexRerank(api_key=emu.api_key, base_url=emu.base_url, **init)
    nodes = [NodeWithScore(node=TextNode(text=text)) for text in TEXTS]
    if is_async:
        ranked = asyncio.run(reranker.apostprocess_nodes(nodes, query_str=QUERY))
    else:
        ranked = reranker.postprocess_nodes(nodes, query_str=QUERY)
    return [n.node.get_content() for n in ranked]


def _nugen_headers(request: RecordedRequest) -> dict[str, str | None]:
    return {name: request.headers.get(name) for name in NUGEN_HEADERS}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_both_frameworks_send_the_same_rerank_request(
    nugen_emulator: NugenEmulator, case: Case
) -> None:
    answers = []
    for run in (_langchain, _llama_index):
        for is_async in (False, True):
            answers.append(run(nugen_emulator, case.init, is_async))
    requests = nugen_emulator.requests
    assert len(requests) == 4
    assert all(answer == answers[0] for answer in answers)
    bodies = [request.body for request in requests]
    assert all(body == bodies[0] for body in bodies), bodies
    assert bodies[0] == {**BASE_BODY, **case.expect}
    headers = [_nugen_headers(request) for request in requests]
    assert all(h == headers[0] for h in headers), headers
    for name, value in case.expect_headers.items():
        assert headers[0][name] == value
