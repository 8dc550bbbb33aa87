"""The frameworks' stock prompts, rendered by the frameworks themselves, are recognised.

Each template is listed here by where the framework keeps it: a renamed or removed
constant fails this test, and a reworded one is still recognised (the emulator reads the
same constants) or fails the outcome checks below, in our CI rather than in users' tests.
"""

from __future__ import annotations

import importlib
import inspect
import json
import string
import time
from typing import Any

import httpx
import pytest

from nugen_emulator import _prompts

from .conftest import chat

CONTEXT = (
    "Owls hunt mostly at night in forests.\n"
    "Penguins cannot fly but they swim fast.\n"
    "Ravens can mimic human speech quite well."
)
QUESTION = "Which birds can swim fast?"
ANSWER = "Penguins cannot fly but they swim fast."
DOCUMENTS = CONTEXT.splitlines()
VALUES = {
    "context_str": CONTEXT,
    "context_msg": CONTEXT,
    "query_str": QUESTION,
    "existing_answer": "I do not know yet.",
    "chat_history": "user: Tell me about penguins.\nassistant: They live in the south.",
    "question": QUESTION,
    "tool_desc": (
        "> Tool Name: swim_speed\nTool Description: The swim speed of a bird\n"
        'Tool Args: {"properties": {"bird": {"type": "string"}}, "type": "object"}\n'
    ),
    "tool_names": "swim_speed",
    "context": CONTEXT,
    "num_choices": 2,
    "context_list": "(1) Facts about owls hunting at night\n\n(2) Which birds swim fast in water",
    "max_outputs": 1,
    "schema": json.dumps(
        {
            "properties": {
                "name": {"type": "string"},
                "tags": {"type": "array", "items": {"type": "string"}},
            },
            "required": ["name", "tags"],
            "type": "object",
        }
    ),
}
LLAMA = "llama_index.core"
CLASSIC = "langchain_classic.chains"
COMPRESSORS = "langchain_classic.retrievers.document_compressors"
# (kind, module, attribute, where the rendered text goes)
STOCK = [
    ("answer", f"{LLAMA}.prompts.default_prompts", "DEFAULT_TEXT_QA_PROMPT_TMPL", "user"),
    ("answer", f"{LLAMA}.prompts.default_prompts", "DEFAULT_REFINE_PROMPT_TMPL", "user"),
    ("answer", f"{LLAMA}.prompts.default_prompts", "DEFAULT_TREE_SUMMARIZE_TMPL", "user"),
    ("answer", f"{LLAMA}.prompts.chat_prompts", "CHAT_TEXT_QA_PROMPT", "messages"),
    ("answer", f"{LLAMA}.prompts.chat_prompts", "CHAT_REFINE_PROMPT", "messages"),
    ("answer", f"{LLAMA}.prompts.chat_prompts", "CHAT_TREE_SUMMARIZE_PROMPT", "messages"),
    ("answer", f"{LLAMA}.chat_engine.context", "DEFAULT_CONTEXT_TEMPLATE", "system"),
    ("answer", f"{LLAMA}.chat_engine.context", "DEFAULT_REFINE_TEMPLATE", "system"),
    (
        "answer",
        f"{LLAMA}.chat_engine.condense_plus_context",
        "DEFAULT_CONTEXT_PROMPT_TEMPLATE",
        "system",
    ),
    (
        "answer",
        f"{LLAMA}.chat_engine.condense_plus_context",
        "DEFAULT_CONTEXT_REFINE_PROMPT_TEMPLATE",
        "system",
    ),
    ("condense", f"{LLAMA}.chat_engine.condense_question", "DEFAULT_TEMPLATE", "user"),
    (
        "condense",
        f"{LLAMA}.chat_engine.condense_plus_context",
        "DEFAULT_CONDENSE_PROMPT_TEMPLATE",
        "user",
    ),
    ("react", f"{LLAMA}.agent.react.prompts", "REACT_CHAT_SYSTEM_HEADER", "system"),
    ("react", f"{LLAMA}.agent.react.prompts", "CONTEXT_REACT_CHAT_SYSTEM_HEADER", "system"),
    ("json", f"{LLAMA}.output_parsers.pydantic", "PYDANTIC_FORMAT_TMPL", "user"),
    # The router's selectors: the numbered choice for the question, as their parser reads it
    ("select", f"{LLAMA}.selectors.prompts", "DEFAULT_SINGLE_SELECT_PROMPT_TMPL", "user"),
    ("select", f"{LLAMA}.selectors.prompts", "DEFAULT_MULTI_SELECT_PROMPT_TMPL", "user"),
    (
        "json",
        "langchain_core.output_parsers.format_instructions",
        "JSON_FORMAT_INSTRUCTIONS",
        "user",
    ),
    ("json", "langchain_core.output_parsers.pydantic", "_PYDANTIC_FORMAT_INSTRUCTIONS", "user"),
    # RetrievalQA and load_qa_chain's "stuff" prompts (text and chat), and the
    # ConversationalRetrievalChain's condense prompt.
    ("answer", f"{CLASSIC}.retrieval_qa.prompt", "prompt_template", "user"),
    ("answer", f"{CLASSIC}.question_answering.stuff_prompt", "system_template", "system"),
    ("condense", f"{CLASSIC}.conversational_retrieval.prompts", "_template", "user"),
    # LangChain's LLMChainExtractor and LLMChainFilter, LlamaIndex's LLMRerank (text and
    # chat) and document-summary LLM retriever.
    ("extract", f"{COMPRESSORS}.chain_extract", "_get_default_chain_prompt", "user"),
    ("relevant", f"{COMPRESSORS}.chain_filter_prompt", "prompt_template", "user"),
    ("choice", f"{LLAMA}.prompts.default_prompts", "DEFAULT_CHOICE_SELECT_PROMPT_TMPL", "user"),
    ("choice", f"{LLAMA}.prompts.chat_prompts", "CHAT_CONTENT_CHOICE_SELECT_PROMPT", "messages"),
    # The document-summary index's question, asked in the tree-summarize template.
    ("summary", f"{LLAMA}.indices.document_summary.base", "DEFAULT_SUMMARY_QUERY", "user"),
    # The new Memory's FactExtractionMemoryBlock (no conversation before it here: no facts).
    ("facts", f"{LLAMA}.memory.memory_blocks.fact", "DEFAULT_FACT_EXTRACT_PROMPT", "user"),
    ("facts", f"{LLAMA}.memory.memory_blocks.fact", "DEFAULT_FACT_CONDENSE_PROMPT", "user"),
]


# Templates known by a phrase of theirs (_prompts.PHRASES), as (kind, module, attribute).
EVALUATION, EXTRACTORS = f"{LLAMA}.evaluation", f"{LLAMA}.extractors.metadata_extractors"
SUMMARIZE = "langchain_classic.chains.summarize"
SCORING = "langchain_classic.evaluation.scoring.prompt"
COMPARISON = "langchain_classic.evaluation.comparison.prompt"
PHRASED = [
    ("relevant", f"{EVALUATION}.faithfulness", "DEFAULT_EVAL_TEMPLATE"),
    ("relevant", f"{EVALUATION}.faithfulness", "DEFAULT_REFINE_TEMPLATE"),
    ("relevant", f"{EVALUATION}.relevancy", "DEFAULT_EVAL_TEMPLATE"),
    ("relevant", f"{EVALUATION}.relevancy", "DEFAULT_REFINE_TEMPLATE"),
    ("grade", f"{EVALUATION}.correctness", "DEFAULT_USER_TEMPLATE"),
    ("result", f"{EVALUATION}.answer_relevancy", "DEFAULT_EVAL_TEMPLATE"),
    ("result", f"{EVALUATION}.context_relevancy", "DEFAULT_EVAL_TEMPLATE"),
    ("summary", f"{SUMMARIZE}.stuff_prompt", "prompt_template"),
    ("summary", f"{SUMMARIZE}.map_reduce_prompt", "prompt_template"),
    ("summary", f"{SUMMARIZE}.refine_prompts", "REFINE_PROMPT_TMPL"),
    ("summary", "langchain.agents.middleware.summarization", "DEFAULT_SUMMARY_PROMPT"),
    ("summary", EXTRACTORS, "DEFAULT_SUMMARY_EXTRACT_TEMPLATE"),
    ("title", EXTRACTORS, "DEFAULT_TITLE_NODE_TEMPLATE"),
    ("title", EXTRACTORS, "DEFAULT_TITLE_COMBINE_TEMPLATE"),
    ("keywords", EXTRACTORS, "DEFAULT_KEYWORD_EXTRACT_TEMPLATE"),
    ("questions", EXTRACTORS, "DEFAULT_QUESTION_GEN_TMPL"),
    # LangChain's string evaluators: a 1-10 rating, and which of two answers is better.
    ("rating", SCORING, "SCORING_TEMPLATE_WITH_REFERENCE"),
    ("rating", SCORING, "SCORING_TEMPLATE"),
    ("verdict", COMPARISON, "COMPARISON_TEMPLATE_WITH_REFERENCE"),
    ("verdict", COMPARISON, "COMPARISON_TEMPLATE"),
    # Text-to-SQL: LangChain's create_sql_query_chain (every dialect's prompt ends so) and
    # LlamaIndex's NLSQLRetriever.
    ("sql", "langchain_classic.chains.sql_database.prompt", "PROMPT_SUFFIX"),
    ("sql", f"{LLAMA}.prompts.default_prompts", "DEFAULT_TEXT_TO_SQL_TMPL"),
]


class _Named(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return f"[{key.upper()}]"


def _phrased(module: str, name: str) -> str:
    """The constant rendered with each variable its name, upper-cased, in brackets (a chat
    template: its last message)."""
    value = getattr(importlib.import_module(module), name)
    if hasattr(value, "messages"):
        value = value.messages[-1].prompt
    return string.Formatter().vformat(getattr(value, "template", value), (), _Named())


@pytest.mark.parametrize(
    ("kind", "module", "name"), PHRASED, ids=[f"{m}.{n}" for _, m, n in PHRASED]
)
def test_each_phrased_template_is_recognised(kind: str, module: str, name: str) -> None:
    # The first template of its kind that matches reads each variable whole (a leading
    # one: all the text before the match).
    text = _phrased(module, name)
    for template in _prompts.templates():
        if template.kind == kind and (match := template.pattern.search(text)):
            found = {template.lead: text[: match.start()]} | match.groupdict()
            break
    else:
        raise AssertionError(f"{module}.{name} is not recognised")
    found = {key: value.strip() for key, value in found.items() if key}
    assert found
    assert found == {key: f"[{key.upper()}]" for key in found}


def test_each_phrase_is_from_a_listed_constant() -> None:
    texts = [_phrased(module, name) for _, module, name in PHRASED]
    for template in _prompts.templates():
        if template.origin in {phrase for _, phrase in _prompts.PHRASES}:
            assert any(template.pattern.search(text) for text in texts), template.origin


def _render(value: Any, values: dict[str, Any]) -> list[dict[str, str]]:
    """The messages the framework itself renders from the template (its own format API)."""
    if inspect.isfunction(value):
        value = value()  # the framework's function building its default prompt
    if isinstance(value, str):
        return [{"role": "user", "content": value.format(**values)}]
    if hasattr(value, "format_messages"):
        used = {k: v for k, v in values.items() if k in value.template_vars}
        return [{"role": m.role.value, "content": m.content} for m in value.format_messages(**used)]
    if hasattr(value, "input_variables"):  # a LangChain PromptTemplate
        return [{"role": "user", "content": value.format(**values)}]
    raise AssertionError(f"not a template: {value!r}")


def _values(kind: str) -> dict[str, Any]:
    """A choice prompt lists numbered documents (as LlamaIndex formats them)."""
    if kind != "choice":
        return VALUES
    from llama_index.core.llms import ChatMessage

    numbered = "\n\n".join(f"Document {i}:\n{doc}" for i, doc in enumerate(DOCUMENTS, 1))
    messages = [ChatMessage(content=doc) for doc in DOCUMENTS]
    return VALUES | {"context_str": numbered, "context_messages": messages}


def _messages(value: Any, where: str, values: dict[str, Any] = VALUES) -> list[dict[str, str]]:
    rendered = _render(value, values)
    if where == "messages":
        return rendered
    text = rendered[-1]["content"]
    if where == "system":
        return [{"role": "system", "content": text}, {"role": "user", "content": QUESTION}]
    return [{"role": "user", "content": text}]


def test_the_table_is_the_stock_list() -> None:
    # Every template the emulator reads is checked below, and nothing checked is missing.
    assert {(kind, module, name) for kind, module, name in _prompts.SOURCES} == {
        (kind, module, name) for kind, module, name, _ in STOCK
    }
    phrases = {phrase for _, phrase in _prompts.PHRASES}
    assert {t.origin for t in _prompts.templates()} - phrases == {
        f"{m}.{n}" for _, m, n, _ in STOCK
    }


@pytest.mark.parametrize(("kind", "module", "name", "where"), STOCK, ids=[s[2] for s in STOCK])
def test_each_stock_template_is_recognised(
    http: httpx.Client, kind: str, module: str, name: str, where: str
) -> None:
    value = getattr(importlib.import_module(module), name)
    if kind == "summary":
        from llama_index.core.prompts.default_prompts import DEFAULT_TREE_SUMMARIZE_TMPL

        value = DEFAULT_TREE_SUMMARIZE_TMPL.replace("{query_str}", value)
    messages = _messages(value, where, _values(kind))
    content = chat(http, messages=messages)["choices"][0]["message"]["content"]
    if kind in ("answer", "extract"):
        assert content == ANSWER
    elif kind == "summary":  # what the context is about: its opening
        assert content == " ".join(DOCUMENTS[:2])
    elif kind == "relevant":
        assert content == "YES"
    elif kind == "facts":
        assert content == "<facts></facts>"
    elif kind == "choice":
        assert content == "Doc: 2, Relevance: 5"  # only the penguins share words with it
    elif kind == "condense":
        assert content == QUESTION
    elif kind == "react":
        assert content.startswith("Thought: ")
        assert "\nAnswer: " in content or "\nAction: swim_speed" in content
    elif kind == "select":
        [selection] = json.loads(content)
        assert selection["choice"] == 2
        assert isinstance(selection["reason"], str)
    else:
        reply = json.loads(content)
        assert isinstance(reply["name"], str)
        assert isinstance(reply["tags"], list)
    if where == "user":
        # The same text as a text completion's prompt gets the same answer.
        prompt = messages[0]["content"]
        completion = http.post("/completions", json={"model": "m", "prompt": prompt}).json()
        assert completion["choices"][0]["text"] == content


def test_relevance_prompts_say_no_when_no_document_shares_a_word(http: httpx.Client) -> None:
    from langchain_classic.retrievers.document_compressors.chain_filter_prompt import (
        prompt_template,
    )
    from llama_index.core.prompts.default_prompts import DEFAULT_CHOICE_SELECT_PROMPT_TMPL

    unrelated = {"question": "Who wrote Hamlet?", "query_str": "Who wrote Hamlet?"}
    for template, kind in (
        (prompt_template, "relevant"),
        (DEFAULT_CHOICE_SELECT_PROMPT_TMPL, "choice"),
    ):
        messages = _messages(template, "user", _values(kind) | unrelated)
        content = chat(http, messages=messages)["choices"][0]["message"]["content"]
        assert content == (
            "NO" if kind == "relevant" else "None of the documents is relevant to the question."
        )


def test_a_long_text_holding_the_phrases_opening_words_is_read_in_linear_time() -> None:
    # Ordinary text says "is worth", "Context:" or ". Give" often: a phrase's opening words
    # must not each start a scan of the rest of the text.
    openers = {
        " ".join(phrase.lstrip("{").split("}", 1)[-1].split()[:2]) for _, phrase in _prompts.PHRASES
    }
    text = "".join(f"{opener} the fox ran over the hill again. " for opener in openers) * 200
    _prompts.templates()  # built (the frameworks imported) before the clock starts
    started = time.perf_counter()
    for kind in {kind for kind, _ in _prompts.PHRASES}:
        assert _prompts.recognise(text, kind) is None
    assert time.perf_counter() - started < 1
