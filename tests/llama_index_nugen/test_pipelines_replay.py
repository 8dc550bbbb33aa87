"""Three end-to-end pipelines: RAG over a VectorStoreIndex, a chat engine, a FunctionAgent.

Replayed from cassettes. What reached the model is read from the emulator's request log
while recording, and from the cassette's matched requests when replaying (see
``sent_bodies``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.agent.workflow import AgentStream, FunctionAgent, ToolCallResult
from llama_index.core.memory import ChatMemoryBuffer
from llama_index.core.tools import FunctionTool

from tests.conftest import NugenTarget
from tests.support.llama_index import embedding, llm, sent_bodies

# llama-index-workflows inspects pydantic objects with inspect.getmembers.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:inspect")

FACTS = [
    "The Eiffel Tower is 330 metres tall and stands in Paris.",
    "Mount Fuji is 3776 metres high and stands in Japan.",
    "The Nile is about 6650 kilometres long.",
]


@pytest.fixture
def event_loop_for_sync_helpers() -> Iterator[None]:
    """LlamaIndex's sync code runs some coroutines on ``asyncio.get_event_loop()``, which
    creates a loop nobody closes (a ResourceWarning later): hand it one, then close it."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield
    asyncio.set_event_loop(None)
    loop.close()


def _index(target: NugenTarget) -> VectorStoreIndex:
    documents = [Document(text=fact, id_=f"fact-{i}") for i, fact in enumerate(FACTS)]
    return VectorStoreIndex.from_documents(documents, embed_model=embedding(target))


def _chat_bodies(target: NugenTarget, cassette: Any) -> list[dict[str, Any]]:
    return [b for b in sent_bodies(target, cassette) if "messages" in b]


def _text(body: dict[str, Any]) -> str:
    return "\n".join(str(m.get("content")) for m in body["messages"])


@pytest.mark.usefixtures("event_loop_for_sync_helpers")
def test_vector_store_index_query(nugen_target: NugenTarget, vcr: Any) -> None:
    index = _index(nugen_target)
    engine = index.as_query_engine(llm=llm(nugen_target), similarity_top_k=2)
    response = engine.query("How tall is the Eiffel Tower?")
    retrieved = [node.node.get_content() for node in response.source_nodes]
    assert len(retrieved) == 2
    assert set(retrieved) <= set(FACTS)
    assert retrieved[0] == FACTS[0]  # the emulator's embeddings share words: real retrieval
    (body,) = _chat_bodies(nugen_target, vcr)
    for text in retrieved:
        assert text in body["messages"][-1]["content"]  # the retrieved text reached the model
    assert "How tall is the Eiffel Tower?" in body["messages"][-1]["content"]
    # The emulator answers a RAG prompt with the context sentence closest to the question.
    assert str(response) == FACTS[0]
    embedded = [b["input"] for b in sent_bodies(nugen_target, vcr) if "input" in b]
    assert embedded == [FACTS, ["How tall is the Eiffel Tower?"]]


async def test_vector_store_index_async_streaming_query(nugen_target: NugenTarget) -> None:
    index = _index(nugen_target)
    engine = index.as_query_engine(llm=llm(nugen_target), similarity_top_k=1, streaming=True)
    response = await engine.aquery("Where is Mount Fuji?")
    text = "".join([token async for token in response.async_response_gen()])
    assert response.source_nodes[0].node.get_content() == FACTS[1]
    assert text == FACTS[1]


@pytest.mark.usefixtures("event_loop_for_sync_helpers")
def test_chat_engine_conversation(nugen_target: NugenTarget, vcr: Any) -> None:
    index = _index(nugen_target)
    engine = index.as_chat_engine(
        chat_mode="condense_plus_context",
        llm=llm(nugen_target),
        similarity_top_k=1,
        # A plain buffer: the default Memory opens an aiosqlite engine it never closes.
        memory=ChatMemoryBuffer.from_defaults(),
    )
    first = engine.chat("How tall is the Eiffel Tower?")
    second = engine.chat("And how long is the Nile?")
    # Each turn retrieves for its own question (the second after condensing it with the
    # history) and answers with the retrieved sentence.
    assert str(first) == FACTS[0]
    assert str(second) == FACTS[2]
    assert second.source_nodes[0].node.get_content() == FACTS[2]
    chats = _chat_bodies(nugen_target, vcr)
    final = chats[-1]
    assert [m["role"] for m in final["messages"]] == ["system", "user", "assistant", "user"]
    assert final["messages"][2]["content"] == str(first)  # the history went back
    assert second.source_nodes[0].node.get_content() in _text(final)  # and the retrieved text


@pytest.mark.parametrize("streaming", [True, False], ids=["streaming", "not_streaming"])
async def test_function_agent_with_two_tools(
    nugen_target: NugenTarget, vcr: Any, streaming: bool
) -> None:
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    def multiply(a: int, b: int) -> int:
        """Multiply two integers."""
        return a * b

    agent = FunctionAgent(
        tools=[FunctionTool.from_defaults(add), FunctionTool.from_defaults(multiply)],
        llm=llm(nugen_target),
        system_prompt="You are a careful calculator.",
        streaming=streaming,
    )
    handler = agent.run("Use add to add 2 and 3, then use multiply to multiply the sum by 4.")
    results: list[tuple[str, dict[str, Any], str]] = []
    deltas: list[str] = []
    async for event in handler.stream_events():
        if isinstance(event, ToolCallResult):
            results.append((event.tool_name, event.tool_kwargs, event.tool_output.content))
        elif isinstance(event, AgentStream):
            deltas.append(event.delta)
    output = await handler
    assert results == [("add", {"a": 2, "b": 3}, "5"), ("multiply", {"a": 4, "b": 5}, "20")]
    assert 'The multiply tool returned: "20".' in str(output.response.content)
    if streaming:
        assert "".join(deltas).endswith(str(output.response.content))
    chats = _chat_bodies(nugen_target, vcr)
    assert len(chats) == 3
    assert [m["role"] for m in chats[-1]["messages"]] == [
        "system",
        "user",
        "assistant",
        "tool",
        "assistant",
        "tool",
    ]
    assert all(body.get("stream", False) is streaming for body in chats)
