"""The frameworks' stock evaluators, summarizers, metadata extractors and text-to-SQL
chains, run end to end on their own OpenAI classes against the openai-dialect emulator,
read a reply of the form their parsers expect: a score, a pass and a fail, a verdict, a
summary, a title, keywords, questions, a query that runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:
    from nugen_emulator import NugenEmulator

PENGUINS = "Penguins cannot fly but they swim very fast in cold water."
TEXT = f"{PENGUINS} Owls hunt small animals at night in quiet forests. Ravens mimic speech."
QUESTION = "Which birds swim fast in cold water?"
GOOD, BAD = "Penguins swim very fast in cold water.", "Shakespeare wrote Hamlet in London."


def _llama(emulator: NugenEmulator, run: Callable[[Any], Awaitable[None]]) -> None:
    """``run(llm)`` on one event loop, with an async HTTP client closed after it."""
    from llama_index.llms.openai_like import OpenAILike

    async def main() -> None:
        async with httpx.AsyncClient() as client:
            connection = {"api_base": emulator.base_url, "api_key": emulator.api_key}
            model = {"model": "nugen-flash-instruct", "is_chat_model": True}
            await run(OpenAILike(**model, **connection, async_http_client=client))

    asyncio.run(main())


def _chat(emulator: NugenEmulator) -> Any:
    from langchain_openai import ChatOpenAI

    connection = {"base_url": emulator.base_url, "api_key": emulator.api_key}
    return ChatOpenAI(model="nugen-flash-instruct", **connection)


def test_llama_index_evaluators_pass_and_fail(
    nugen_emulator_openai: NugenEmulator, unraisable: list[Any]
) -> None:
    from llama_index.core.evaluation import (
        AnswerRelevancyEvaluator,
        ContextRelevancyEvaluator,
        CorrectnessEvaluator,
        FaithfulnessEvaluator,
        RelevancyEvaluator,
    )

    async def evaluate(llm: Any) -> None:
        for answer, passing in ((GOOD, True), (BAD, False)):
            asked = {"query": QUESTION, "response": answer}
            correct = await CorrectnessEvaluator(llm=llm).aevaluate(**asked, reference=PENGUINS)
            # 1 to 5 for the share of the reference's words the answer holds (5 of 7 here)
            assert (correct.score, correct.passing) == ((4.0, True) if passing else (1.0, False))
            assert correct.feedback
            # Without a reference, for the share of the question's words (4 of 5 here).
            unreferenced = await CorrectnessEvaluator(llm=llm).aevaluate(**asked)
            assert unreferenced.score == (4.0 if passing else 1.0)
            for evaluator in (FaithfulnessEvaluator(llm=llm), RelevancyEvaluator(llm=llm)):
                context = [TEXT if passing else "Hamlet."]
                result = await evaluator.aevaluate(**asked, contexts=context)
                assert (result.passing, result.feedback) == (passing, "YES" if passing else "NO")
            # 4 of the question's 5 words ("birds" is not in the answer): 2 of 2 and 3 of 4,
            # divided by the thresholds 2 and 4.
            relevant = await AnswerRelevancyEvaluator(llm=llm).aevaluate(**asked)
            assert relevant.score == (1.0 if passing else 0.0)
            context = await ContextRelevancyEvaluator(llm=llm).aevaluate(
                QUESTION, contexts=[answer]
            )
            assert context.score == (0.75 if passing else 0.0)

    _llama(nugen_emulator_openai, evaluate)


def test_llama_index_metadata_extractors(
    nugen_emulator_openai: NugenEmulator, unraisable: list[Any]
) -> None:
    from llama_index.core.extractors import (
        KeywordExtractor,
        QuestionsAnsweredExtractor,
        SummaryExtractor,
        TitleExtractor,
    )
    from llama_index.core.schema import TextNode

    async def extract(llm: Any) -> None:
        nodes = [TextNode(text=TEXT)]
        [title] = await TitleExtractor(llm=llm).aextract(nodes)
        assert title["document_title"] == "Penguins cannot fly but they swim very fast in cold ..."
        [summary] = await SummaryExtractor(llm=llm).aextract(nodes)
        assert summary["section_summary"].startswith(PENGUINS)
        [keywords] = await KeywordExtractor(llm=llm, keywords=3).aextract(nodes)
        assert keywords["excerpt_keywords"] == "penguin, cannot, fly"
        [questions] = await QuestionsAnsweredExtractor(llm=llm, questions=2).aextract(nodes)
        assert questions["questions_this_excerpt_can_answer"].splitlines() == [
            "What does the text say about penguin?",
            "What does the text say about cannot?",
        ]

    _llama(nugen_emulator_openai, extract)


@pytest.mark.parametrize("chain_type", ["stuff", "map_reduce", "refine"])
def test_langchain_summarize_chains(nugen_emulator_openai: NugenEmulator, chain_type: str) -> None:
    from langchain_classic.chains.summarize import load_summarize_chain
    from langchain_core.documents import Document

    chain = load_summarize_chain(_chat(nugen_emulator_openai), chain_type=chain_type)
    docs = [Document(page_content=TEXT), Document(page_content="Ravens solve hard puzzles.")]
    summary = chain.invoke({"input_documents": docs})["output_text"]
    assert summary == f"{PENGUINS} Owls hunt small animals at night in quiet forests."


def test_langchain_summarization_middleware(nugen_emulator_openai: NugenEmulator) -> None:
    from langchain.agents import create_agent
    from langchain.agents.middleware import SummarizationMiddleware
    from langchain_core.messages import AIMessage, HumanMessage

    model = _chat(nugen_emulator_openai)
    summarize = SummarizationMiddleware(model, trigger=("messages", 3), keep=("messages", 1))
    agent = create_agent(model, middleware=[summarize])
    history = [HumanMessage("Tell me about penguins please."), AIMessage(PENGUINS)]
    state = agent.invoke({"messages": [*history, HumanMessage("And owls?")]})
    summary = next(m.text for m in state["messages"] if "summary" in m.text.lower())
    assert f"Tell me about penguins please. {PENGUINS}" in summary


def test_langchain_string_evaluators(nugen_emulator_openai: NugenEmulator) -> None:
    from langchain_classic.evaluation import load_evaluator

    model = _chat(nugen_emulator_openai)
    score = load_evaluator("score_string", llm=model)
    labeled = load_evaluator("labeled_score_string", llm=model)
    # 1 to 10 for the share of the question's (the reference's) words the answer holds:
    # 4 of 5 (5 of 7) here.
    for answer, scores in ((GOOD, (8, 7)), (BAD, (1, 1))):
        asked = {"input": QUESTION, "prediction": answer}
        assert score.evaluate_strings(**asked)["score"] == scores[0]
        assert labeled.evaluate_strings(**asked, reference=PENGUINS)["score"] == scores[1]
    for evaluator in ("pairwise_string", "labeled_pairwise_string"):
        compare = load_evaluator(evaluator, llm=model)
        reference = {"reference": PENGUINS} if evaluator.startswith("labeled") else {}
        for a, b, verdict in ((GOOD, BAD, "A"), (BAD, GOOD, "B"), (GOOD, GOOD, None)):
            asked = {"input": QUESTION, "prediction": a, "prediction_b": b} | reference
            assert compare.evaluate_string_pairs(**asked)["value"] == verdict


def _sqlite(*statements: str) -> Any:
    """An in-memory SQLite database made by ``statements``."""
    from sqlalchemy import StaticPool, create_engine, text

    shared = {"check_same_thread": False}  # one connection, used from worker threads too
    engine = create_engine("sqlite://", poolclass=StaticPool, connect_args=shared)
    with engine.begin() as db:
        for statement in statements:
            db.execute(text(statement))
    return engine


def _birds_and_cities() -> Any:
    """An in-memory SQLite database of two tables."""
    return _sqlite(
        "CREATE TABLE birds (name TEXT, speed INTEGER)",
        "CREATE TABLE cities (name TEXT, people INTEGER)",
        "INSERT INTO birds VALUES ('penguin', 36), ('owl', 65)",
        "INSERT INTO cities VALUES ('Oslo', 709000), ('Lima', 10092000)",
    )


CITY_QUESTION = "How many people live in each city?"
CITY_ROWS = [("Oslo", 709000), ("Lima", 10092000)]


def test_llama_index_text_to_sql(
    nugen_emulator_openai: NugenEmulator, unraisable: list[Any]
) -> None:
    from llama_index.core import MockEmbedding, SQLDatabase
    from llama_index.core.query_engine import NLSQLTableQueryEngine

    engine = _birds_and_cities()

    async def ask(llm: Any) -> None:
        # The default SQL parser embeds nothing (only given, so OpenAI's is not looked up).
        unused = MockEmbedding(embed_dim=8)
        database = SQLDatabase(engine)
        query_engine = NLSQLTableQueryEngine(database, llm=llm, embed_model=unused)
        response = await query_engine.aquery(CITY_QUESTION)
        # the table the question names (else the first), as many rows as the prompt allows
        assert response.metadata["sql_query"] == 'SELECT * FROM "cities" LIMIT 5'
        assert response.metadata["result"] == CITY_ROWS

    _llama(nugen_emulator_openai, ask)
    engine.dispose()


class _Database:
    """What the chain reads of langchain_community's SQLDatabase (not installed here): the
    dialect, and each table's CREATE TABLE statement as it writes them."""

    dialect = "sqlite"

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    def get_table_info(self, table_names: list[str] | None = None) -> str:
        from sqlalchemy import MetaData
        from sqlalchemy.schema import CreateTable

        metadata = MetaData()
        metadata.reflect(self.engine)
        tables = [t for t in metadata.sorted_tables if t.name in (table_names or [t.name])]
        return "\n\n".join(str(CreateTable(t).compile(self.engine)).rstrip() for t in tables)


def test_langchain_sql_query_chain(nugen_emulator_openai: NugenEmulator) -> None:
    from langchain_classic.chains import create_sql_query_chain
    from sqlalchemy import text

    engine = _birds_and_cities()
    try:
        from langchain_community.utilities import SQLDatabase

        database: Any = SQLDatabase(engine)
    except ImportError:
        database = _Database(engine)
    chain = create_sql_query_chain(_chat(nugen_emulator_openai), database, k=2)
    query = chain.invoke({"question": CITY_QUESTION})
    assert query == "SELECT * FROM cities LIMIT 2"
    with engine.connect() as db:
        assert [tuple(row) for row in db.execute(text(query))] == CITY_ROWS
    assert chain.invoke({"question": "Which bird is fastest?"}) == "SELECT * FROM birds LIMIT 2"
    engine.dispose()


def test_chat_openai_max_tokens_cuts_the_answer(nugen_emulator_openai: NugenEmulator) -> None:
    # ChatOpenAI sends max_tokens as max_completion_tokens.
    model = _chat(nugen_emulator_openai).bind(max_tokens=3)
    reply = model.invoke("What is the capital of France?")
    assert (reply.text, reply.response_metadata["finish_reason"]) == ('You asked: "What', "length")


def test_text_to_sql_queries_quote_the_table_names_that_need_it(
    nugen_emulator_openai: NugenEmulator,
) -> None:
    # A name with a space, and a keyword: quoted as LangChain's CREATE TABLE shows it, and
    # in LlamaIndex's answer (its 'quotes' are not SQL's), so the query runs.
    from langchain_classic.chains import create_sql_query_chain
    from llama_index.core import MockEmbedding, SQLDatabase
    from llama_index.core.query_engine import NLSQLTableQueryEngine
    from sqlalchemy import text

    engine = _sqlite(
        'CREATE TABLE "Bird Sightings" (name TEXT)',
        'CREATE TABLE "order" (item TEXT)',
        "INSERT INTO \"Bird Sightings\" VALUES ('owl')",
        "INSERT INTO \"order\" VALUES ('tea')",
    )
    asked = {"Which bird sightings were there?": [("owl",)], "What is in each order?": [("tea",)]}
    chain = create_sql_query_chain(_chat(nugen_emulator_openai), _Database(engine), k=2)
    for question, rows in asked.items():
        with engine.connect() as db:
            assert [
                tuple(r) for r in db.execute(text(chain.invoke({"question": question})))
            ] == rows

    async def ask(llm: Any) -> None:
        unused = MockEmbedding(embed_dim=8)
        query_engine = NLSQLTableQueryEngine(SQLDatabase(engine), llm=llm, embed_model=unused)
        for question, rows in asked.items():
            assert (await query_engine.aquery(question)).metadata["result"] == rows

    _llama(nugen_emulator_openai, ask)
    engine.dispose()
