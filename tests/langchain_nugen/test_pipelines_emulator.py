"""LangChain pipelines as the cookbook writes them, offline against the emulator.

RAG with the context and the question in two user messages, JSON mode with a plain prompt,
JSON parsed out of text completions, and a completion-driven agent scripted through the
emulator's ``chat_reply`` hook. Each asserts what the pipeline produced, sync and async.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.output_parsers import JsonOutputParser, StrOutputParser
from langchain_core.prompts import ChatPromptTemplate, PromptTemplate
from langchain_core.runnables import Runnable, RunnablePassthrough
from langchain_core.vectorstores import InMemoryVectorStore
from pydantic import BaseModel

from langchain_nugen import ChatNugen, NugenEmbeddings, NugenLLM
from nugen_emulator import NugenEmulator
from nugen_emulator.replies import ChatCall, Choice, Generation
from tests.support.langchain import keep

FACTS = [
    "Penguins cannot fly but they swim very fast in cold water.",
    "Owls hunt small animals at night in quiet forests.",
    "Ravens can mimic human speech and solve puzzles.",
]


def _chat(emulator: NugenEmulator) -> ChatNugen:
    return keep(ChatNugen(base_url=emulator.base_url, api_key=emulator.api_key))


def _run(runnable: Runnable[Any, Any], value: Any, is_async: bool) -> Any:
    return asyncio.run(runnable.ainvoke(value)) if is_async else runnable.invoke(value)


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_rag_with_context_and_question_in_two_user_messages(
    nugen_emulator: NugenEmulator, is_async: bool
) -> None:
    embeddings = NugenEmbeddings(base_url=nugen_emulator.base_url, api_key=nugen_emulator.api_key)
    store = InMemoryVectorStore.from_documents(
        [Document(page_content=fact) for fact in FACTS], embeddings
    )
    retriever = store.as_retriever(search_kwargs={"k": 2})
    prompt = ChatPromptTemplate.from_messages(
        [
            ("system", "You are a helpful assistant. Answer from the context only."),
            ("human", "Context:\n{context}"),
            ("human", "{question}"),
        ]
    )

    def join(docs: list[Document]) -> str:
        return "\n\n".join(doc.page_content for doc in docs)

    chain = (
        {"context": retriever | join, "question": RunnablePassthrough()}
        | prompt
        | _chat(nugen_emulator)
        | StrOutputParser()
    )
    assert _run(chain, "Which animals hunt at night?", is_async) == FACTS[1]


class Patient(BaseModel):
    symptoms: list[str]
    severity: str


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_json_mode_with_a_plain_prompt(nugen_emulator: NugenEmulator, is_async: bool) -> None:
    model = _chat(nugen_emulator)
    plain = model.with_structured_output(method="json_mode")
    assert _run(plain, "Tell me a joke about cats.", is_async) == {
        "answer": 'You asked: "Tell me a joke about cats.".'
    }
    # A prompt that shows an example object gets that structure back, lists as lists.
    example = (
        "List the symptoms 'fever' and 'cough', severity 'mild'. Reply with JSON like "
        '{"symptoms": ["..."], "severity": "..."}'
    )
    typed = model.with_structured_output(Patient, method="json_mode")
    assert _run(typed, example, is_async) == Patient(symptoms=["fever", "cough"], severity="mild")


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_json_parsed_out_of_text_completions(nugen_emulator: NugenEmulator, is_async: bool) -> None:
    llm = keep(NugenLLM(base_url=nugen_emulator.base_url, api_key=nugen_emulator.api_key))
    prompt = PromptTemplate.from_template(
        "Plan the next step for: {task}\n"
        'Respond in JSON: {{"action": "...", "inputs": ["..."], "done": false}}'
    )
    chain = prompt | llm | JsonOutputParser()
    step = _run(chain, {"task": "look up 'Oslo' and 'Bergen'"}, is_async)
    # The example's structure, filled from the task's literals.
    assert step == {"action": "Oslo", "inputs": ["Bergen"], "done": False}
    assert nugen_emulator.last_request.path.endswith("/completions")


def test_a_completion_agent_scripted_with_the_hook() -> None:
    script = iter(
        [
            '{"action": "search", "input": "owls"}',
            '{"action": "finish", "input": "Owls hunt at night."}',
        ]
    )

    def hook(call: ChatCall) -> Generation:
        assert call.endpoint == "completions"
        return Generation([Choice(content=next(script), finish_reason="stop")], prompt_tokens=3)

    with NugenEmulator(chat_reply=hook) as emulator:
        llm = NugenLLM(base_url=emulator.base_url, api_key=emulator.api_key)
        history = "Task: when do owls hunt?"
        while True:
            step = json.loads(llm.invoke(history))
            if step["action"] == "finish":
                break
            history += f"\nAction: {json.dumps(step)}\nObservation: owls are nocturnal"
        prompts = [r.body["prompt"] for r in emulator.requests]
    assert step["input"] == "Owls hunt at night."
    assert len(prompts) == 2
    assert prompts[1].endswith("Observation: owls are nocturnal")


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_contextual_compression_filters_and_extracts(
    nugen_emulator: NugenEmulator, is_async: bool
) -> None:
    # LLMChainFilter asks YES / NO for each document, LLMChainExtractor for the parts that
    # answer: the emulator answers both stock prompts, so the pipelines keep the right fact.
    from langchain_classic.retrievers.document_compressors import (
        LLMChainExtractor,
        LLMChainFilter,
    )

    docs = [Document(page_content=fact) for fact in FACTS]
    question = "Which birds swim fast?"
    model = _chat(nugen_emulator)
    for compressor in (LLMChainFilter.from_llm(model), LLMChainExtractor.from_llm(model)):
        if is_async:
            kept = asyncio.run(compressor.acompress_documents(docs, question))
        else:
            kept = compressor.compress_documents(docs, question)
        assert [doc.page_content for doc in kept] == [FACTS[0]]
