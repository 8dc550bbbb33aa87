"""NugenRerank against the emulator: ranked copies, scores, ``rerank()``, errors, and its
place as a ``ContextualCompressionRetriever``'s compressor."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.exceptions import ModelAPIError

import nugen_client
from langchain_nugen import NugenRerank
from nugen_emulator import NugenEmulator

pytestmark = pytest.mark.emulator

QUERY = "What is the capital of France?"
TEXTS = [
    "Bananas are rich in potassium.",
    "Paris is the capital of France.",
    "France borders Spain and Italy.",
    "The capital of Italy is Rome.",
    "Potassium is a metal.",
]
DOCS = [
    Document(page_content=text, metadata={"source": f"doc-{i}"}, id=f"id-{i}")
    for i, text in enumerate(TEXTS)
]


def make(emu: NugenEmulator, **kwargs: Any) -> NugenRerank:
    return NugenRerank(api_key=emu.api_key, base_url=emu.base_url, **kwargs)


def compress(reranker: NugenRerank, documents: list[Document], *, is_async: bool) -> Any:
    if is_async:
        return asyncio.run(reranker.acompress_documents(documents, QUERY))
    return reranker.compress_documents(documents, QUERY)


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_compress_returns_the_best_three_as_scored_copies(
    nugen_emulator: NugenEmulator, is_async: bool
) -> None:
    before = copy.deepcopy(DOCS)
    ranked = compress(make(nugen_emulator), DOCS, is_async=is_async)
    assert [d.id for d in ranked] == ["id-1", "id-3", "id-2"]
    assert [d.metadata["source"] for d in ranked] == ["doc-1", "doc-3", "doc-2"]
    scores = [d.metadata["relevance_score"] for d in ranked]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] > 0
    assert before == DOCS  # the caller's documents are not changed
    assert all(d is not DOCS[1] for d in ranked)
    sent = nugen_emulator.last_request
    assert sent is not None
    assert sent.body == {
        "model": "bge-reranker-v2-m3",
        "query": QUERY,
        "documents": TEXTS,
        "top_n": 3,
    }


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_an_empty_list_sends_nothing(nugen_emulator: NugenEmulator, is_async: bool) -> None:
    assert compress(make(nugen_emulator), [], is_async=is_async) == []
    assert nugen_emulator.requests == []


def test_top_n_none_returns_every_document_and_top_n_is_capped(
    nugen_emulator: NugenEmulator,
) -> None:
    assert len(make(nugen_emulator, top_n=None).compress_documents(DOCS, QUERY)) == len(DOCS)
    sent = nugen_emulator.last_request
    assert sent is not None
    assert "top_n" not in sent.body
    assert len(make(nugen_emulator, top_n=10).compress_documents(DOCS[:2], QUERY)) == 2
    sent = nugen_emulator.last_request
    assert sent is not None
    assert sent.body["top_n"] == 2


def test_rerank_returns_indexes_and_scores(nugen_emulator: NugenEmulator) -> None:
    reranker = make(nugen_emulator, top_n=2)
    scores = reranker.rerank(TEXTS, QUERY)
    assert [s["index"] for s in scores] == [1, 3]
    assert set(scores[0]) == {"index", "relevance_score"}
    assert [s["index"] for s in reranker.rerank(DOCS, QUERY, top_n=1)] == [1]
    assert asyncio.run(reranker.arerank(TEXTS, QUERY)) == scores
    assert reranker.rerank([], QUERY) == []


def test_settings_and_headers_are_sent(nugen_emulator: NugenEmulator) -> None:
    reranker = make(
        nugen_emulator,
        model="my-reranker",
        method="optimal",
        model_cross="bge-reranker-large",
        stage1_top_k=4,
        max_tokens_per_doc=128,
        batch_size=2,
        session_id="s-1",
        provider="nugen-infer-align",
    )
    reranker.compress_documents(DOCS, QUERY)
    sent = nugen_emulator.last_request
    assert sent is not None
    assert sent.body == {
        "model": "my-reranker",
        "query": QUERY,
        "documents": TEXTS,
        "top_n": 3,
        "method": "optimal",
        "model_cross": "bge-reranker-large",
        "stage1_top_k": 4,
        "max_tokens_per_doc": 128,
        "batch_size": 2,
    }
    assert sent.headers["x-session-id"] == "s-1"
    assert sent.headers["x-provider"] == "nugen-infer-align"


@pytest.mark.parametrize(
    ("settings", "query", "named"),
    [
        ({"method": "standard"}, QUERY, "model_cross"),
        ({}, "", "query"),
    ],
)
def test_bad_settings_are_refused_before_any_request(
    nugen_emulator: NugenEmulator, settings: dict[str, Any], query: str, named: str
) -> None:
    with pytest.raises(ValueError, match=named):
        make(nugen_emulator, **settings).compress_documents(DOCS, query)
    assert nugen_emulator.requests == []


@pytest.mark.parametrize(
    ("documents", "named"),
    [
        ("one text", "a list of Documents or strings, not one str"),
        ("", "a list of Documents or strings, not one str"),  # not an empty list
        ([DOCS[0], {"text": "a dict"}], r"documents\[1\] is a dict, not a Document or a string"),
        ([None], r"documents\[0\] is None, not a Document or a string"),
    ],
)
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_documents_of_the_wrong_type_are_refused_before_any_request(
    nugen_emulator: NugenEmulator, documents: Any, named: str, is_async: bool
) -> None:
    reranker = make(nugen_emulator)

    def rerank() -> Any:
        if is_async:
            return asyncio.run(reranker.arerank(documents, QUERY))
        return reranker.rerank(documents, QUERY)

    with pytest.raises(nugen_client.InvalidInputError, match=named):
        rerank()
    assert nugen_emulator.requests == []


@pytest.mark.parametrize("field", ["top_n", "stage1_top_k", "batch_size", "method"])
def test_bad_fields_are_refused_at_construction(nugen_emulator: NugenEmulator, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        make(nugen_emulator, **{field: 0})


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_402_is_both_error_classes(nugen_emulator: NugenEmulator, is_async: bool) -> None:
    nugen_emulator.inject(status=402)
    with pytest.raises(nugen_client.PaymentRequiredError) as raised:
        compress(make(nugen_emulator), DOCS, is_async=is_async)
    assert isinstance(raised.value, ModelAPIError)
    assert "add credits" in str(raised.value)


def test_works_as_the_compressor_of_a_contextual_compression_retriever(
    nugen_emulator: NugenEmulator,
) -> None:
    from langchain_classic.retrievers import ContextualCompressionRetriever
    from langchain_core.retrievers import BaseRetriever

    class Everything(BaseRetriever):
        def _get_relevant_documents(self, query: str, **kwargs: Any) -> list[Document]:
            return list(DOCS)

    retriever = ContextualCompressionRetriever(
        base_compressor=make(nugen_emulator, top_n=2), base_retriever=Everything()
    )
    assert [d.id for d in retriever.invoke(QUERY)] == ["id-1", "id-3"]
    ranked = asyncio.run(retriever.ainvoke(QUERY))
    assert [d.metadata["source"] for d in ranked] == ["doc-1", "doc-3"]
