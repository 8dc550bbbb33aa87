"""Both frameworks' ``NugenRerank`` end to end, sync and async, replayed from emulator
cassettes (``cassettes/cross_adapter/test_rerank_replay/``) with sockets blocked;
``scripts/record-cassettes tests/cross_adapter/test_rerank_replay.py`` re-records them."""

from __future__ import annotations

import asyncio

from langchain_core.documents import Document
from llama_index.core.schema import NodeWithScore, TextNode

from langchain_nugen import NugenRerank as LangChainRerank
from llama_index_nugen import NugenRerank as LlamaIndexRerank
from tests.conftest import NugenTarget

QUERY = "Which contract clause excuses a party after a natural disaster?"
TEXTS = [
    "A force majeure clause excuses a party when a natural disaster prevents performance.",
    "The payment schedule lists monthly instalments.",
    "An arbitration clause sends disputes to an arbitrator.",
    "Termination for convenience lets either party end the contract.",
]
BEST = [0, 3]  # the documents sharing the most words with the query, best first


def test_langchain(nugen_target: NugenTarget) -> None:
    reranker = LangChainRerank(base_url=nugen_target.base_url, api_key=nugen_target.api_key)
    documents = [Document(page_content=t, metadata={"n": i}) for i, t in enumerate(TEXTS)]
    ranked = reranker.compress_documents(documents, QUERY)
    assert [d.metadata["n"] for d in ranked][:2] == BEST
    assert all(d.metadata["relevance_score"] >= 0 for d in ranked)
    again = asyncio.run(reranker.acompress_documents(documents, QUERY))
    assert [d.metadata for d in again] == [d.metadata for d in ranked]


def test_llama_index(nugen_target: NugenTarget) -> None:
    reranker = LlamaIndexRerank(base_url=nugen_target.base_url, api_key=nugen_target.api_key)
    nodes = [NodeWithScore(node=TextNode(text=t, id_=str(i))) for i, t in enumerate(TEXTS)]
    ranked = reranker.postprocess_nodes(nodes, query_str=QUERY)
    assert [int(n.node.node_id) for n in ranked] == BEST
    again = asyncio.run(reranker.apostprocess_nodes(nodes, query_str=QUERY))
    assert [(n.node.node_id, n.score) for n in again] == [(n.node.node_id, n.score) for n in ranked]
