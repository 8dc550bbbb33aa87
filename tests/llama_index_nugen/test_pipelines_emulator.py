"""LlamaIndex's stock pipelines, offline against the emulator: the right chunk, the right
structure, sync and async.

The chat engines ask the model to condense a follow-up, or put the retrieved context in
the system prompt; structured-output programs ask for JSON in plain text. Each works only
when the emulator answers what the pipeline needs, so each asserts the outcome.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest
from llama_index.core import Document, SummaryIndex, VectorStoreIndex
from llama_index.core.memory import ChatMemoryBuffer
from llama_index.core.program import LLMTextCompletionProgram
from llama_index.core.query_engine import RouterQueryEngine
from llama_index.core.selectors import LLMMultiSelector, LLMSingleSelector
from llama_index.core.tools import QueryEngineTool
from llama_index.core.utils import get_tokenizer
from pydantic import BaseModel

from llama_index_nugen import Nugen, NugenEmbedding

if TYPE_CHECKING:
    from nugen_emulator import NugenEmulator

FACTS = [
    "Penguins cannot fly but they swim very fast in cold water.",
    "Owls hunt small animals at night in quiet forests.",
    "Ravens can mimic human speech and solve puzzles.",
]
OWLS = FACTS[1]


def _index(emulator: NugenEmulator) -> VectorStoreIndex:
    embed = NugenEmbedding(base_url=emulator.base_url, api_key=emulator.api_key)
    return VectorStoreIndex.from_documents([Document(text=f) for f in FACTS], embed_model=embed)


def _llm(emulator: NugenEmulator, **kwargs: object) -> Nugen:
    return Nugen(base_url=emulator.base_url, api_key=emulator.api_key, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["condense_question", "context", "condense_plus_context"])
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_chat_engine_follow_up_retrieves_the_right_chunk(
    nugen_emulator: NugenEmulator, mode: str, is_async: bool
) -> None:
    # LlamaIndex's default Memory opens an aiosqlite connection it never closes: its
    # ResourceWarning would land in whichever later test collects it.
    engine = _index(nugen_emulator).as_chat_engine(
        chat_mode=mode,
        llm=_llm(nugen_emulator),
        similarity_top_k=1,
        memory=ChatMemoryBuffer.from_defaults(),
    )
    first = "Tell me about penguins and how they swim."
    # The follow-up shares no word with the penguin fact: with the history quoted into
    # the retrieval query (or the prompt echoed back), the penguin chunk would win.
    follow_up = "Which animals hunt at night in forests?"

    async def talk() -> list[str]:
        return [str(await engine.achat(first)), str(await engine.achat(follow_up))]

    if is_async:
        answers = asyncio.run(talk())
    else:
        answers = [str(engine.chat(first)), str(engine.chat(follow_up))]
    assert answers == [FACTS[0], OWLS]


def test_query_engine_on_text_completions(nugen_emulator: NugenEmulator) -> None:
    engine = _index(nugen_emulator).as_query_engine(
        llm=_llm(nugen_emulator, is_chat_model=False), similarity_top_k=2
    )
    response = engine.query("When do owls hunt?")
    assert str(response) == OWLS
    assert str(asyncio.run(engine.aquery("When do owls hunt?"))) == OWLS
    assert nugen_emulator.requests[-1].path.endswith("/completions")


@pytest.mark.parametrize("selector", [LLMSingleSelector, LLMMultiSelector])
def test_router_with_an_llm_selector_picks_the_related_engine(
    nugen_emulator: NugenEmulator, selector: type[LLMSingleSelector | LLMMultiSelector]
) -> None:
    # The selectors ask in plain text for a JSON list of numbered choices.
    llm = _llm(nugen_emulator)
    engine = _index(nugen_emulator).as_query_engine(llm=llm, similarity_top_k=1)
    tools = [
        QueryEngineTool.from_defaults(engine, name="recipes", description="Cooking recipes"),
        QueryEngineTool.from_defaults(engine, name="birds", description="Facts about birds"),
    ]
    router = RouterQueryEngine(selector.from_defaults(llm=llm), tools, llm=llm)
    question = "What do birds like owls hunt at night?"
    for response in (router.query(question), asyncio.run(router.aquery(question))):
        assert str(response) == OWLS
        assert [s.index for s in response.metadata["selector_result"].selections] == [1]


class Address(BaseModel):
    city: str
    country: str


class Person(BaseModel):
    name: str
    skills: list[str]
    home: Address


PROMPT = (
    "Extract the person from the text: name 'Ada Lovelace', skills 'mathematics' and "
    "'poetry', city 'London', country 'England'."
)


@pytest.mark.parametrize("is_chat_model", [True, False], ids=["chat", "completions"])
def test_text_completion_program_parses_its_object(
    nugen_emulator: NugenEmulator, is_chat_model: bool
) -> None:
    program = LLMTextCompletionProgram.from_defaults(
        output_cls=Person,
        prompt_template_str=PROMPT,
        llm=_llm(nugen_emulator, is_chat_model=is_chat_model),
    )
    person = program()
    assert person == asyncio.run(program.acall())
    assert person == Person(
        name="Ada Lovelace",
        skills=["mathematics", "poetry"],
        home=Address(city="London", country="England"),
    )


@pytest.mark.parametrize("is_chat_model", [True, False], ids=["chat", "completion"])
def test_llm_rerank_keeps_the_relevant_node(
    nugen_emulator: NugenEmulator, is_chat_model: bool
) -> None:
    # LLMRerank asks which numbered documents answer (a chat or a text template): the
    # emulator answers with "Doc: n, Relevance: r" lines, as the framework parses them.
    from llama_index.core.postprocessor import LLMRerank
    from llama_index.core.schema import NodeWithScore, TextNode

    llm = _llm(nugen_emulator, is_chat_model=is_chat_model, max_tokens=50)
    nodes = [NodeWithScore(node=TextNode(text=fact), score=0.5) for fact in FACTS]
    kept = LLMRerank(llm=llm, top_n=2).postprocess_nodes(nodes, query_str="When do owls hunt?")
    assert [n.node.get_content() for n in kept] == [OWLS]


@pytest.mark.parametrize("retriever_mode", ["llm", "embedding"])
def test_document_summary_index_finds_the_document(
    nugen_emulator: NugenEmulator, retriever_mode: str
) -> None:
    # Each document is summarised (the index asks what the text is about), then chosen by
    # its summary: by the model reading the numbered summaries, or by their embeddings.
    from llama_index.core import DocumentSummaryIndex

    llm = _llm(nugen_emulator)
    embed = NugenEmbedding(base_url=nugen_emulator.base_url, api_key=nugen_emulator.api_key)
    docs = [
        Document(text=f"{fact} It is a bird fact.", doc_id=f"d{i}") for i, fact in enumerate(FACTS)
    ]
    index = DocumentSummaryIndex.from_documents(docs, llm=llm, embed_model=embed)
    assert index.get_document_summary("d1") == f"{OWLS} It is a bird fact."
    engine = index.as_query_engine(llm=llm, retriever_mode=retriever_mode)
    assert str(engine.query("When do owls hunt small animals?")) == OWLS


@pytest.mark.parametrize(
    ("fields", "budget"), [({}, 1500), ({"prompt_truncate_len": 3000}, 3000)], ids=str
)
def test_a_compact_query_sends_prompts_the_service_keeps_whole(
    nugen_emulator: NugenEmulator, fields: dict[str, int], budget: int
) -> None:
    # The service keeps only prompt_truncate_len tokens (1500 unset) of a prompt: context
    # packed beyond that would be cut before the model reads it.
    text = " ".join(f"Fact {i}: {FACTS[i % 3]}" for i in range(600))
    index = SummaryIndex.from_documents([Document(text=text)])
    engine = index.as_query_engine(llm=_llm(nugen_emulator, **fields), response_mode="compact")
    engine.query("When do owls hunt?")
    tokens = get_tokenizer()
    prompts = [
        sum(len(tokens(m["content"])) for m in request.body["messages"])
        for request in nugen_emulator.requests
    ]
    assert len(prompts) > 1
    assert max(prompts) <= budget


async def test_memory_extracts_the_facts_the_user_disclosed(nugen_emulator: NugenEmulator) -> None:
    # The new Memory's FactExtractionMemoryBlock asks the model for <fact> tags for the
    # messages that leave the short-term history: each fact once, known ones not again.
    from llama_index.core.llms import ChatMessage
    from llama_index.core.memory import FactExtractionMemoryBlock

    block = FactExtractionMemoryBlock(llm=_llm(nugen_emulator))
    for said in ["My name is Ada. I live in Oslo.", "I live in Oslo. I prefer green tea."]:
        reply = ChatMessage(role="assistant", content="Noted.")
        await block.aput([ChatMessage(role="user", content=said), reply])
    assert block.facts == ["My name is Ada.", "I live in Oslo.", "I prefer green tea."]
    assert (
        "<fact>I live in Oslo.</fact>"
        in nugen_emulator.last_request.body["messages"][-1]["content"]
    )
